"""xentref: the verifiable reference for cross-entropy.

Reference implementations, in NumPy, of entropy, cross-entropy, KL divergence, the stable
log-sum-exp family, softmax and binary cross-entropy (from logits and from probabilities)
with their gradients, PyTorch's options (class weights, ignore_index, label smoothing,
pos_weight), focal loss, temperature scaling, and the forms that language models need: the
linear cross-entropy of the last layer without its logits, the denominator that keeps a
token mean the same however a batch is split, and cross-entropy over a vocabulary split
across ranks. Every function is exact to the last digits on hard inputs and validates its
arguments. The site publishes each public function as one NumPy-only file,
``copy/<name>.py``: the function with exactly the private helpers it needs (generated from
this package by ``scripts/site/copy_files.py``, and tested on its own).
"""

from xentref._batching import mean_denominator
from xentref._binary import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
)
from xentref._calibration import expected_calibration_error, fit_temperature
from xentref._focal import sigmoid_focal_loss
from xentref._information import cross_entropy, entropy, kl_divergence
from xentref._linear import linear_cross_entropy, linear_cross_entropy_grad
from xentref._softmax_ce import softmax_cross_entropy, softmax_cross_entropy_grad
from xentref._stable import log_sigmoid, log_softmax, logsumexp, sigmoid, softmax
from xentref._vocab_parallel import (
    vocab_parallel_cross_entropy,
    vocab_parallel_cross_entropy_grad,
)

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "cross_entropy",
    "entropy",
    "expected_calibration_error",
    "fit_temperature",
    "kl_divergence",
    "linear_cross_entropy",
    "linear_cross_entropy_grad",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "mean_denominator",
    "sigmoid",
    "sigmoid_focal_loss",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "vocab_parallel_cross_entropy",
    "vocab_parallel_cross_entropy_grad",
]
__version__ = "0.1.0"
