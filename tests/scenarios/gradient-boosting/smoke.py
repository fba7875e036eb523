"""LightGBM through its scikit-learn wrapper (an integration the image's scikit-learn
activates), fitted and scored with the image's scikit-learn and numpy."""

import lightgbm
import numpy as np
from sklearn.model_selection import cross_val_score

rng = np.random.RandomState(0)
X = rng.rand(300, 4)
y = (X[:, 0] + X[:, 1] > 1).astype(int)
model = lightgbm.LGBMClassifier(n_estimators=30, verbose=-1)
scores = cross_val_score(model, X, y, cv=3)
assert scores.mean() > 0.8, scores
print("ok", lightgbm.__version__, round(float(scores.mean()), 3))
