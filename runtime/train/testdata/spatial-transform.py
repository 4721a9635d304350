# Regenerates spatial-transform.json: batchgenerators' spatial transform and low-resolution simulation as
# nnU-Net v1 configures them (data_augmentation_moreDA.py), restated on scipy: images
# map_coordinates(order=3, mode='constant', cval=0), labels one map_coordinates(order=1, mode='constant',
# cval=-1) per label value (ascending) thresholded at 0.5, on coordinates centred at shape/2 - 0.5;
# low resolution = skimage resize(order 0) down, resize(order 3) up (mode 'edge', no anti-aliasing, clipped),
# which is ndimage.zoom(grid_mode=True, mode='nearest') + clipping. Run: python3 spatial-transform.py (numpy, scipy).
import numpy as np, json
from scipy import ndimage as ndi
from scipy.ndimage import map_coordinates

rs = np.random.RandomState(5)

def coords_for(patch, M, centre):
    grid = np.stack(np.meshgrid(*[np.arange(p, dtype=float) for p in patch], indexing='ij'))
    off = grid - ((np.array(patch, float) - 1) / 2)[:, None, None, None]
    src = np.einsum('ij,j...->i...', np.array(M, float).reshape(3, 3), off)
    return src + np.array(centre, float)[:, None, None, None]

def interp_seg(seg, coords, order=1, cval=-1):
    out = np.zeros(coords.shape[1:], seg.dtype)
    for c in np.unique(seg):
        r = map_coordinates((seg == c).astype(float), coords, order=order, mode='constant', cval=cval)
        out[r >= 0.5] = c
    return out

def blocky_labels(shape):
    small = rs.randint(-1, 3, size=tuple(max(1, s // 2) for s in shape))
    z = ndi.zoom(small, [s / t for s, t in zip(shape, small.shape)], order=0, grid_mode=True, mode='nearest')
    return z.astype(np.int8)

def rot(axis, a):
    c, s = np.cos(a), np.sin(a)
    if axis == 0: return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == 1: return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])

out = {}
# 3-D: rotation about all axes, zoom out (scale 1.3: the corners sample beyond the loaded box)
shape = (9, 10, 8)
data = rs.randn(*shape) * 2 + 1
seg = blocky_labels(shape)
M = 1.3 * rot(2, 0.3) @ rot(1, -0.4) @ rot(0, 0.5)
patch = (6, 7, 5)
centre = [s / 2 - 0.5 for s in shape]
c = coords_for(patch, M.ravel(), centre)
out['case3d'] = dict(shape=shape, data=data.ravel().tolist(), seg=seg.ravel().tolist(), M=M.ravel().tolist(), centre=centre, patch=patch,
                     out_data=map_coordinates(data, c, order=3, mode='constant', cval=0).ravel().tolist(),
                     out_seg=interp_seg(seg, c).ravel().tolist())
# dummy 2-D: every slice on its own with a 2-D rotation (+ zoom in 0.8) of the (d1, d2) plane
shape = (4, 11, 9)
data = rs.randn(*shape) * 2 + 1
seg = blocky_labels(shape)
R = 0.8 * rot(0, 2.2)
patch = (4, 8, 7)
centre = [s / 2 - 0.5 for s in shape]
c = coords_for(patch, R.ravel(), centre)
od = np.stack([map_coordinates(data[k], c[1:, k], order=3, mode='constant', cval=0) for k in range(shape[0])])
os_ = np.stack([interp_seg(seg[k], c[1:, k]) for k in range(shape[0])])
out['case2d'] = dict(shape=shape, data=data.ravel().tolist(), seg=seg.ravel().tolist(), M=R.ravel().tolist(), centre=centre, patch=patch,
                     out_data=od.ravel().tolist(), out_seg=os_.ravel().tolist())

def sk_resize(x, shape, order):
    f = [n / o for o, n in zip(x.shape, shape)]
    return np.clip(ndi.zoom(x, f, order=order, mode='nearest', grid_mode=True), x.min(), x.max())

shape = (6, 10, 9)
x = rs.randn(*shape)
for name, zoom, ignore in [('lowres', 0.6, ()), ('lowres_ignore0', 0.55, (0,))]:
    target = np.round(np.array(shape) * zoom).astype(int)
    for a in ignore: target[a] = shape[a]
    out[name] = dict(shape=shape, zoom=zoom, ignore=list(ignore), x=x.ravel().tolist(),
                     out=sk_resize(sk_resize(x, tuple(target), 0), shape, 3).ravel().tolist())

with open('spatial-transform.json', 'w') as f:
    json.dump(out, f)
