"""A BERT tokenizer from a vocabulary written here (no download), slow and fast."""

import os
import tempfile

os.environ["TRANSFORMERS_OFFLINE"] = "1"
import transformers
from transformers import BertTokenizer, BertTokenizerFast

folder = tempfile.mkdtemp()
vocab = os.path.join(folder, "vocab.txt")
with open(vocab, "w") as f:
    f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s"]))
slow = BertTokenizer(vocab_file=vocab)
fast = BertTokenizerFast(vocab_file=vocab)
for tok in (slow, fast):
    ids = tok("hello worlds")["input_ids"]
    assert ids == [2, 5, 6, 7, 3], ids
print("ok", transformers.__version__)
