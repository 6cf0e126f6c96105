"""Makes testdata/images/bench_640x480.jpg, the input of the HTTP benchmark
(scripts/bench.sh): a real 640x480 JPEG with exactly one face.

Source: portrait_skimage_astronaut.png (512x512, public domain, see README.md). The top
512x384 (4:3, keeps the face at [179,57,271,177]) is scaled by 1.25 to 640x480 with
Pillow's Lanczos filter and saved as a baseline JPEG, quality 90, 4:2:0 chroma. Byte for
byte reproducible with the Pillow pinned in bench/requirements.txt.

usage: .venv-bench/bin/python testdata/make_bench_image.py
"""
import os

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "images", "portrait_skimage_astronaut.png")
DST = os.path.join(HERE, "images", "bench_640x480.jpg")

img = Image.open(SRC).convert("RGB").crop((0, 0, 512, 384)).resize((640, 480), Image.Resampling.LANCZOS)
img.save(DST, "JPEG", quality=90, subsampling="4:2:0", optimize=False, progressive=False)
print("wrote", DST)
