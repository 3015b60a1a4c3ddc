"""Context-aware, latency-aware cell search (paper §III-B2): space, cost, loss, devices, search, derive.

Modules: :mod:`~factory.nas.ops` (candidate ops), :mod:`~factory.nas.backbone` (skeleton, derived backbone;
no NNI), :mod:`~factory.nas.space` (NNI search space), :mod:`~factory.nas.cost` (MACs, expected MACs),
:mod:`~factory.nas.loss` (Eq. 3), :mod:`~factory.nas.devices` (targets and FLOPS), :mod:`~factory.nas.data`,
:mod:`~factory.nas.train`, :mod:`~factory.nas.search` (DARTS driver), :mod:`~factory.nas.derive`
(architecture JSON ↔ backbone), :mod:`~factory.nas.bench` (pnnx → ncnn latency).
"""

import warnings

# NNI 3.0 predates torch 2.13: it warns about every non-Module it finds in torch.nn, harmlessly.
warnings.filterwarnings("ignore", message=r".*is found to be not a nn\.Module.*", category=RuntimeWarning)
warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated.*")
