"""pyrch.nn: modules, layers, losses, initialisers and nn.functional (torch's API).

>>> import pyrch
>>> model = pyrch.nn.Sequential(pyrch.nn.Linear(4, 8), pyrch.nn.ReLU(), pyrch.nn.Linear(8, 2))
>>> model(pyrch.ones(3, 4)).shape
pyrch.Size([3, 2])
"""
from .parameter import Parameter, UninitializedParameter, UninitializedBuffer  # noqa: F401
from .module import Module  # noqa: F401
from .containers import Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict  # noqa: F401
from . import functional, init, utils  # noqa: F401
from .linear import Identity, Linear, Bilinear, Flatten, Unflatten  # noqa: F401
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d  # noqa: F401
from .pooling import (MaxPool1d, MaxPool2d, MaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,  # noqa: F401
                      AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d,
                      AdaptiveMaxPool2d, AdaptiveMaxPool3d, Upsample, UpsamplingNearest2d,
                      UpsamplingBilinear2d, PixelShuffle)
from .norm import (BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d, InstanceNorm2d,  # noqa: F401
                   InstanceNorm3d, LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm)
from .activation import (ReLU, ReLU6, LeakyReLU, ELU, CELU, SELU, GELU, SiLU, Mish,  # noqa: F401
                         Sigmoid, Tanh, Softsign, Tanhshrink, LogSigmoid, Softplus, Hardtanh,
                         Hardsigmoid, Hardswish, Threshold, PReLU, GLU, Softmax, Softmin,
                         LogSoftmax)
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d  # noqa: F401
from .sparse import Embedding  # noqa: F401
from .lazy import (LazyLinear, LazyConv1d, LazyConv2d, LazyConv3d, LazyConvTranspose1d,  # noqa: F401
                   LazyConvTranspose2d, LazyConvTranspose3d, LazyBatchNorm1d, LazyBatchNorm2d,
                   LazyBatchNorm3d, LazyInstanceNorm1d, LazyInstanceNorm2d,
                   LazyInstanceNorm3d)
from .rnn import RNNBase, RNN, LSTM, GRU, RNNCellBase, RNNCell, LSTMCell, GRUCell  # noqa: F401
from .transformer import (MultiheadAttention, TransformerEncoderLayer,  # noqa: F401
                          TransformerEncoder, TransformerDecoderLayer, TransformerDecoder,
                          Transformer)
from .padding import (ZeroPad1d, ZeroPad2d, ZeroPad3d, ConstantPad1d, ConstantPad2d,  # noqa: F401
                      ConstantPad3d, ReflectionPad1d, ReflectionPad2d, ReflectionPad3d,
                      ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, CircularPad1d,
                      CircularPad2d, CircularPad3d)
from .distance import CosineSimilarity, PairwiseDistance  # noqa: F401
from .loss import (MSELoss, L1Loss, SmoothL1Loss, HuberLoss, CrossEntropyLoss, NLLLoss,  # noqa: F401
                   BCELoss, BCEWithLogitsLoss, KLDivLoss, CosineEmbeddingLoss,
                   MarginRankingLoss, HingeEmbeddingLoss, SoftMarginLoss, GaussianNLLLoss,
                   TripletMarginLoss)
from .fold import Fold, Unfold, ChannelShuffle  # noqa: F401
from .loss import CTCLoss  # noqa: F401
from .extra_layers import (Buffer, AlphaDropout, FeatureAlphaDropout, Hardshrink,  # noqa: F401
                           Softshrink, RReLU, Softmax2d, PixelUnshuffle, EmbeddingBag, LPPool1d,
                           LPPool2d, LPPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d,
                           FractionalMaxPool2d, FractionalMaxPool3d, MultiLabelMarginLoss,
                           MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss,
                           TripletMarginWithDistanceLoss, AdaptiveLogSoftmaxWithLoss)
