"""xentref: the verifiable reference for cross-entropy."""

from xentref._information import cross_entropy, entropy, kl_divergence
from xentref._stable import log_sigmoid, log_softmax, logsumexp, sigmoid, softmax

__all__ = ["cross_entropy", "entropy", "kl_divergence", "log_sigmoid", "log_softmax", "logsumexp", "sigmoid", "softmax"]
__version__ = "0.1.0"
