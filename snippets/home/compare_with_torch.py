# bnref.batch_norm next to torch.nn.functional.batch_norm on a tiny batch.
import torch
import torch.nn.functional as F

import bnref

X = torch.tensor([[1.0, 2.0, 3.0],
                  [3.0, 6.0, 9.0]])          # 2 examples, 3 features
gamma, beta = torch.ones(3), torch.zeros(3)
moving_mean, moving_var = torch.zeros(3), torch.ones(3)

Y, new_mean, new_var = bnref.batch_norm(
    X, gamma, beta, moving_mean, moving_var, eps=1e-5, momentum=0.9, training=True)

# PyTorch: momentum weighs the *new* value (0.1 = 1 - 0.9) and the running
# variance is updated with the unbiased batch variance.
running_mean, running_var = moving_mean.clone(), moving_var.clone()
Y_torch = F.batch_norm(X, running_mean, running_var, gamma, beta,
                       training=True, momentum=0.1, eps=1e-5)

print(Y)
print(torch.allclose(Y, Y_torch))
print(new_mean, running_mean)
print(new_var, running_var)
