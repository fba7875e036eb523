"""An OLS fit with statsmodels on the image's numpy, scipy and pandas."""

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf

rng = np.random.RandomState(1)
df = pd.DataFrame({"x": rng.rand(100)})
df["y"] = 3 * df["x"] + 1 + rng.normal(scale=0.01, size=100)
fit = smf.ols("y ~ x", data=df).fit()
assert abs(fit.params["x"] - 3) < 0.05, fit.params
assert sm.stats.durbin_watson(fit.resid) > 0
print("ok", sm.__version__ if hasattr(sm, "__version__") else "")
