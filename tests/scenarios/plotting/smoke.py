"""A chart rendered headless to PNG bytes."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots()
ax.plot([0, 1, 2], [1, 0, 1])
buf = io.BytesIO()
fig.savefig(buf, format="png")
assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
print("ok", matplotlib.__version__)
