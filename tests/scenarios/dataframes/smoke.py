"""The image's pandas DataFrame to Arrow and Parquet and back."""

import io
import os

# pyarrow 12's OpenMP threads and the image's race at interpreter exit ("terminate called
# without an active exception", about 1 run in 3 on 2 cores): one thread, as servers set it
os.environ.setdefault("OMP_NUM_THREADS", "1")
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
table = pa.Table.from_pandas(df)
buf = io.BytesIO()
pq.write_table(table, buf)
back = pq.read_table(io.BytesIO(buf.getvalue())).to_pandas()
assert back.equals(df), back
print("ok", pa.__version__)
