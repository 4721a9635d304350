"""Writes the small checkpoints in this folder (run by hand with torch and numpy; tests never need them).

    python generate.py   # from this folder
"""
import json
from collections import OrderedDict

import numpy as np
import torch

torch.manual_seed(0)
base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7.0
sd = OrderedDict()
sd["f32"] = torch.randn(2, 3)
sd["f64"] = torch.randn(3, dtype=torch.float64) / 3.0
sd["f16"] = torch.tensor([0.5, -1.25, 65504.0, 6.1e-5, -0.0], dtype=torch.float16)
sd["bf16"] = torch.tensor([1.0, -3.140625, 1e30], dtype=torch.bfloat16)
sd["i64"] = torch.tensor([0, -1, 2**40, -(2**62)], dtype=torch.int64)
sd["i32"] = torch.tensor([7, -8], dtype=torch.int32)
sd["u8"] = torch.tensor([0, 255, 3], dtype=torch.uint8)
sd["b"] = torch.tensor([True, False, True])
sd["transposed"] = base.t()  # strides (1, 6), shares base's storage
sd["sliced"] = base[1:, 2:5]  # offset 8, strides (6, 1)
sd["expanded"] = torch.tensor([2.5, -1.0]).reshape(2, 1).expand(2, 3)  # stride 0
sd["param"] = torch.nn.Parameter(torch.randn(2, 1, 3, 3, 3))
sd["empty"] = torch.zeros(0, 3)
sd["scalar"] = torch.tensor(4.25)


def expected(t):
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
            "values": [int(v) if not t.is_floating_point() else float(v) for v in t.detach().flatten().tolist()]}


with open("expected.json", "w") as f:
    json.dump({k: expected(v) for k, v in sd.items()}, f, indent=None)

torch.save(sd, "mixed_zip_p2.pth")
torch.save(sd, "mixed_legacy.pth", _use_new_zipfile_serialization=False)
torch.save(sd, "mixed_zip_p5.pth", pickle_protocol=5)
ckpt = {"model": {("module." + k): v for k, v in list(sd.items())[:2]},
        "curve": [np.float64(0.25), np.float32(1.5), np.int64(-3)], "tag": b"\x00\xffok", "n": None}
torch.save(ckpt, "nested_zip_p4.pth", pickle_protocol=4)

# The same archive rewritten with zip64 records (sizes, offsets and the end record), as
# writers do for files over 4 GiB: lowering zipfile's limit forces them on a small file.
import zipfile

zipfile.ZIP64_LIMIT = 16
zipfile.ZIP_FILECOUNT_LIMIT = 4
with zipfile.ZipFile("mixed_zip_p2.pth") as src, zipfile.ZipFile("mixed_zip64.pth", "w", zipfile.ZIP_STORED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))
