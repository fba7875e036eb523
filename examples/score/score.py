"""A score script as the inference server runs it: init() once, run(raw_request) per call.

The model is small and trained by the example itself (scikit-learn ships the iris data), so
the example needs no download. lightgbm comes from the mounted folder, scikit-learn and
numpy from the image.
"""

import json

model = None
booster = None


def init():
    global model, booster
    import lightgbm
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    booster = lightgbm.LGBMClassifier(n_estimators=20, min_child_samples=5, verbose=-1).fit(X, y)


def run(raw_data):
    import lightgbm
    import numpy as np
    import sklearn

    rows = np.asarray(json.loads(raw_data)["data"], dtype=float)
    return {
        "logistic_regression": model.predict(rows).tolist(),
        "lightgbm": booster.predict(rows).tolist(),
        "versions": {
            "scikit-learn": sklearn.__version__,
            "lightgbm": lightgbm.__version__,
            "numpy": np.__version__,
        },
    }
