# The note keeps moving_mean/moving_var as plain attributes, not buffers.
#
# Plain tensor attributes are invisible to nn.Module: state_dict() does not save
# them (a saved model loses its inference statistics) and .double() / .half()
# do not convert them. bnref.BatchNorm registers them with register_buffer, as
# nn.BatchNorm2d does.
import torch

import bnref
from bnref import note

for name, layer in [("note.BatchNorm", note.BatchNorm(3, num_dims=4)),
                    ("bnref.BatchNorm", bnref.BatchNorm(3, num_dims=4))]:
    print(f"{name:16} state_dict keys: {sorted(layer.state_dict())}")
    layer = layer.double()                   # converts the module in place
    print(f"{name:16} after .double(): gamma {layer.gamma.dtype}, "
          f"moving_mean {layer.moving_mean.dtype}")
