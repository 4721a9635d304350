# Regenerates nnunet-resample.json: nnU-Net v1 resample_data_or_seg / resize_segmentation restated on
# scipy (skimage.resize(order, mode="edge", anti_aliasing=False) is ndimage.zoom(grid_mode=True,
# mode="nearest") followed by clipping to the input range). Run: python3 nnunet-resample.py (numpy, scipy).
import numpy as np, json
from scipy import ndimage as ndi
from scipy.ndimage import map_coordinates
def sk_resize(x, shape, order):  # skimage.transform.resize(order, mode='edge', anti_aliasing=False, clip=True) for float input
    f = [n/o for o, n in zip(x.shape, shape)]
    out = ndi.zoom(x, f, order=order, mode='nearest', grid_mode=True)
    return np.clip(out, x.min(), x.max())
def resize_seg(seg, shape, order=1):
    out = np.zeros(shape, dtype=seg.dtype)
    for c in np.unique(seg):
        m = sk_resize((seg == c).astype(float), shape, order)
        out[m >= 0.5] = c
    return out
def resample(data, new_shape, is_seg, axis, order, order_z=0):
    fn = (lambda d, s, o: resize_seg(d, s, o)) if is_seg else sk_resize
    shape = np.array(data.shape); new_shape = np.array(new_shape)
    if axis is None:
        return fn(data.astype(float) if not is_seg else data, tuple(new_shape), order)
    assert axis == 0
    sl = [fn(data[i].astype(float) if not is_seg else data[i], tuple(new_shape[1:]), order) for i in range(shape[0])]
    r = np.stack(sl, 0)
    rows, cols, dim = new_shape
    orows, ocols, odim = r.shape
    mr, mc, md = np.mgrid[:rows, :cols, :dim]
    mr = orows/rows*(mr+0.5)-0.5; mc = ocols/cols*(mc+0.5)-0.5; md = odim/dim*(md+0.5)-0.5
    return map_coordinates(r.astype(float), np.array([mr, mc, md]), order=0, mode='nearest')
rs = np.random.RandomState(3)
x = rs.rand(5, 9, 8) * 200 - 50
seg = rs.randint(-1, 3, size=(5, 9, 8)).astype(np.int16)
seg = ndi.median_filter(seg, 3)
out = {"x": x.ravel().tolist(), "seg": seg.ravel().tolist()}
out["img_full"] = resample(x, (7, 12, 5), False, None, 3).ravel().tolist()
out["img_sep"] = resample(x, (13, 12, 5), False, 0, 3).ravel().tolist()
out["seg_full"] = resample(seg, (7, 12, 5), True, None, 1).ravel().tolist()
out["seg_sep"] = resample(seg, (13, 12, 5), True, 0, 1).ravel().tolist()
json.dump(out, open('nnunet-resample.json', 'w'))
