"""scikit-learn 1.0 (the user's pin, over the image's 0.24.1) with the image's numpy, scipy
and joblib: a feature 0.24 lacks, fitted and scored."""

import numpy as np
import sklearn
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer

assert sklearn.__version__ == "1.0.2", sklearn.__version__
X = np.linspace(0, 1, 50).reshape(-1, 1)
y = np.sin(6 * X).ravel()
model = make_pipeline(SplineTransformer(n_knots=6), Ridge(alpha=1e-3)).fit(X, y)
assert model.score(X, y) > 0.95
print("ok", sklearn.__version__)
