"""Decode, resize and re-encode an image made here, with Pillow and imageio."""

import io

import imageio
import numpy as np
from PIL import Image

img = Image.fromarray((np.arange(64 * 48 * 3) % 255).astype("uint8").reshape(48, 64, 3))
small = img.resize((32, 24))
buf = io.BytesIO()
small.save(buf, format="PNG")
back = imageio.imread(buf.getvalue())
assert back.shape == (24, 32, 3), back.shape
print("ok", Image.__version__ if hasattr(Image, "__version__") else "", imageio.__version__)
