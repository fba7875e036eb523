"""Text features without downloaded corpora: stemming, n-grams and fuzzy matching."""

import nltk
from nltk.stem import PorterStemmer
from nltk.util import ngrams
from rapidfuzz import fuzz, process

assert [PorterStemmer().stem(w) for w in ("running", "flies")] == ["run", "fli"]
assert list(ngrams(["a", "b", "c"], 2)) == [("a", "b"), ("b", "c")]
assert fuzz.ratio("inference", "inferense") > 80
assert process.extractOne("sklaern", ["sklearn", "pandas"])[0] == "sklearn"
print("ok", nltk.__version__)
