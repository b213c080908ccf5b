"""bnref.doctor: each code has a model that triggers it and a clean one that does not.

The note's LeNets get the bias in front of each BN (and, in evaluation mode, the
informational ``foldable``) and nothing else; a model built the recommended
way gets no warning; ``check`` leaves the model as it found it; the command
prints what ``check`` returns.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import bnref
from bnref import doctor
from bnref.__main__ import main
from bnref.fold import fold_batch_norm

def codes(model, example=None, **kw):
    return [(f.code, f.where) for f in doctor.check(model, example, **kw)]


def recommended():
    """Conv and linear layers without bias in front of BN, the note's LeNet otherwise."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, bias=False), nn.BatchNorm2d(6), nn.Sigmoid(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, bias=False), nn.BatchNorm2d(16), nn.Sigmoid(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 120, bias=False), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 10))


EXAMPLE = torch.randn(4, 1, 28, 28)


@pytest.mark.parametrize("factory", [bnref.lenet_bn, bnref.lenet_bn_concise])
def test_the_notes_lenets_get_the_bias_in_front_of_each_bn_and_nothing_else(factory):
    bias = [("bias-before-bn", w) for w in ("0", "4", "9", "12")]
    assert codes(factory()) == bias
    assert codes(factory(), EXAMPLE) == bias  # the same, read from a run
    evaluated = codes(factory().eval(), EXAMPLE)
    assert [c for c in evaluated if c[0] != "foldable"] == bias
    assert [w for c, w in evaluated if c == "foldable"] == ["1", "5", "10", "13"]
    assert codes(bnref.lenet()) == []


def test_a_model_built_the_recommended_way_gets_no_warning():
    assert codes(recommended()) == []
    assert codes(recommended(), EXAMPLE) == []
    # evaluated, only the informational foldable pairs
    assert {c for c, _ in codes(recommended().eval(), EXAMPLE)} == {"foldable"}


def test_bias_before_bn_is_found_in_any_module_when_the_model_runs():
    class Block(nn.Module):  # no nn.Sequential: only a run shows which layer feeds BN
        def __init__(self, bias):
            super().__init__()
            self.fc, self.bn = nn.Linear(8, 4, bias=bias), nn.BatchNorm1d(4)

        def forward(self, x):
            return torch.relu(self.bn(self.fc(x)))

    x = torch.randn(5, 8)
    assert codes(Block(True), x) == [("bias-before-bn", "fc")]
    assert codes(Block(False), x) == []
    assert codes(Block(True)) == []  # without an example, only nn.Sequential is read


def test_bn_training_in_eval_is_confirmed_by_the_batch_changing_the_output():
    net = recommended().eval()
    net[5].train()  # forgotten: one layer left in training mode
    found = doctor.check(net, EXAMPLE)
    assert [(f.code, f.where) for f in found if f.code != "foldable"] == [
        ("bn-training-in-eval", "5")]
    message = next(f.message for f in found if f.code == "bn-training-in-eval")
    assert "the first output changes when the other members of the batch change" in message
    assert "bn-training-in-eval" not in {c for c, _ in codes(recommended().eval(), EXAMPLE)}


@pytest.mark.parametrize("n, drop_last, expected", [(257, False, True), (257, True, False),
                                                    (256, False, False), (258, False, False)])
def test_batch_of_one_risk_reads_the_loader(n, drop_last, expected):
    data = TensorDataset(torch.randn(n, 1, 28, 28), torch.zeros(n, dtype=torch.long))
    loader = DataLoader(data, batch_size=256, drop_last=drop_last)
    found = codes(recommended(), loader=loader)
    assert (("batch-of-one-risk", "loader") in found) is expected
    if expected:
        assert "257 examples and the batch size is 256" in str(doctor.check(recommended(),
                                                                            loader=loader)[-1])
    assert codes(bnref.lenet(), loader=loader) == []  # no BN: nothing at risk


@pytest.mark.parametrize("layer", [lambda: nn.BatchNorm1d(4), lambda: bnref.BatchNorm(4, num_dims=2)])
def test_frozen_affine_with_updating_statistics(layer):
    net = nn.Sequential(nn.Linear(3, 4, bias=False), layer())
    for p in net[1].parameters():
        p.requires_grad_(False)
    assert codes(net) == [("frozen-affine-updating-stats", "1")]
    net[1].eval()  # frozen for real: the statistics stop moving too
    assert codes(net) == []


def test_dropout_before_bn():
    net = nn.Sequential(nn.Linear(4, 8, bias=False), nn.Dropout(0.5), nn.BatchNorm1d(8))
    assert codes(net) == [("dropout-before-bn", "2")]
    clean = nn.Sequential(nn.Linear(4, 8, bias=False), nn.BatchNorm1d(8), nn.Dropout(0.5))
    assert codes(clean) == []


def test_momentum_convention_knows_each_layers_convention():
    ported = nn.Sequential(nn.BatchNorm2d(4, momentum=0.9), bnref.BatchNorm(4, num_dims=4,
                                                                             momentum=0.1))
    found = doctor.check(ported)
    assert [(f.code, f.where) for f in found] == [("momentum-convention", "0"),
                                                  ("momentum-convention", "1")]
    assert "equivalent here is 0.1" in found[0].message
    assert "equivalent here is 0.9" in found[1].message
    assert codes(nn.Sequential(nn.BatchNorm2d(4), bnref.BatchNorm(4, num_dims=4))) == []


def test_no_running_stats():
    assert codes(nn.Sequential(nn.BatchNorm2d(4, track_running_stats=False))) == [
        ("no-running-stats", "0")]
    assert codes(nn.Sequential(nn.BatchNorm2d(4))) == []


def test_foldable_pairs_are_the_ones_bnref_fold_folds():
    net = recommended().eval()
    found = codes(net, EXAMPLE)
    assert [w for c, w in found if c == "foldable"] == ["1", "5", "10"]
    folded = fold_batch_norm(net)
    assert [type(folded[int(w)]).__name__ for c, w in found if c == "foldable"] == [
        "Identity"] * 3
    assert codes(recommended(), EXAMPLE) == []  # training mode: nothing to fold


def test_check_leaves_the_model_as_it_was():
    net = recommended()  # training mode: a run would move the moving statistics
    before = {k: v.clone() for k, v in net.state_dict().items()}
    doctor.check(net, EXAMPLE)
    net.eval()
    net[1].train()
    doctor.check(net, EXAMPLE)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert net[1].training and not net[5].training


def test_bad_input_is_refused_clearly():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module; got function"):
        doctor.check(recommended)
    with pytest.raises(ValueError, match=r"example must be a batch of at least 2 examples "
                       r"\(a tensor of shape \(N, \.\.\.\) with N >= 2\); got \(1, 1, 28, 28\)"):
        doctor.check(recommended(), torch.randn(1, 1, 28, 28))


def test_the_command_builds_the_model_and_prints_the_findings(capsys):
    assert main(["doctor", "bnref:lenet_bn"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "4 finding(s) in bnref:lenet_bn()"
    assert [line.split(" at ")[0] for line in lines[:-1]] == ["bias-before-bn"] * 4
    assert main(["doctor", "bnref:lenet_bn", "--eval", "--example", "2,1,28,28"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "8 finding(s) in bnref:lenet_bn() (evaluation mode)")
    with pytest.raises(SystemExit, match="expected package.module:factory"):
        main(["doctor", "lenet_bn"])
    with pytest.raises(SystemExit, match="cannot load 'bnref:nope'"):
        main(["doctor", "bnref:nope"])


def _frozen():
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.BatchNorm1d(4))
    for p in net[1].parameters():
        p.requires_grad_(False)
    return net


def _left_training():
    net = recommended().eval()
    net[1].train()
    return net


#: for each code, a small model (with the example or loader it needs) that triggers it
TRIGGERS = {
    "bias-before-bn": lambda: (nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), None, None),
    "bn-training-in-eval": lambda: (_left_training(), EXAMPLE, None),
    "batch-of-one-risk": lambda: (recommended(), None, DataLoader(
        TensorDataset(torch.randn(5, 1, 28, 28)), batch_size=2)),
    "frozen-affine-updating-stats": lambda: (_frozen(), None, None),
    "dropout-before-bn": lambda: (nn.Sequential(nn.Dropout(0.2), nn.BatchNorm1d(4)), None, None),
    "momentum-convention": lambda: (nn.Sequential(nn.BatchNorm1d(4, momentum=0.99)), None, None),
    "no-running-stats": lambda: (nn.Sequential(nn.BatchNorm1d(4, track_running_stats=False)),
                                 None, None),
    "foldable": lambda: (recommended().eval(), None, None),
}


@pytest.mark.parametrize("code", sorted(doctor.CODES))
def test_every_code_is_documented_and_has_a_triggering_model(code):
    model, example, loader = TRIGGERS[code]()
    assert code in {f.code for f in doctor.check(model, example, loader=loader)}
    assert f"``{code}``" in doctor.__doc__
    assert set(TRIGGERS) == set(doctor.CODES)
