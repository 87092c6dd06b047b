# Value-by-value comparison of the datasets of two HDF5 files (h5py): prints the ones that differ.
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r')
names = []
a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
nb = []
b.visit(lambda n: nb.append(n) if isinstance(b[n], h5py.Dataset) else None)
if sorted(names) != sorted(nb): print("dataset names differ", set(names) ^ set(nb))
diff = 0
for n in names:
    if n not in b: continue
    x, y = a[n][()], b[n][()]
    if x.shape != y.shape or not np.array_equal(x, y):
        diff += 1
        d = np.abs(x.astype(np.float64) - y.astype(np.float64)) if x.shape == y.shape else None
        print("differs:", n, "" if d is None else f"{int((d>0).sum())} of {d.size}, max {d.max()}")
print("identical" if diff == 0 else f"{diff} datasets differ", f"({len(names)} datasets)")
