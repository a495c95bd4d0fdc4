"""Architecture file of cellpipe's bioimage.io packages (it travels inside them; imports only torch and cellpose).

Cellpose 3.1's ``CPnetBioImageIO`` overrides ``load_state_dict(state_dict)`` without the
``strict`` argument that bioimage.io runtimes pass, so they cannot load its state-dict weights.
This subclass restores PyTorch's signature; the network is unchanged.
"""

import torch
from cellpose.resnet_torch import CPnetBioImageIO


class CellposeCPnet(CPnetBioImageIO):
    """Cellpose 3 CPnet returning (flow, style, downsampled...) tensors, loadable with ``strict``."""

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """PyTorch's ``load_state_dict``, with the ``strict`` and ``assign`` arguments bioimage.io runtimes pass.

        Parameters
        ----------
        state_dict : dict
            Parameter and buffer tensors by name.
        strict : bool
            Whether the names must match the network's exactly.
        assign : bool
            Whether to take the given tensors instead of copying into the network's own.

        Returns
        -------
        NamedTuple
            PyTorch's ``missing_keys`` and ``unexpected_keys``.
        """
        return torch.nn.Module.load_state_dict(self, state_dict, strict=strict, assign=assign)
