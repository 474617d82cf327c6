import torch

from dlx.data.loaders import TensorBatches


def make(n=10, bs=4, **kw):
    x = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3)
    y = torch.arange(n)
    return TensorBatches(x, y, bs, **kw)


def test_every_sample_once_in_order_without_shuffle():
    batches = list(make())
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([y for _, y in batches]), torch.arange(10))
    for x, y in batches:  # inputs stay paired with their targets
        assert torch.equal(x[:, 0].long(), y)


def test_shuffle_is_a_permutation_and_repeatable():
    a = make(shuffle=True, generator=torch.Generator().manual_seed(3))
    b = make(shuffle=True, generator=torch.Generator().manual_seed(3))
    order_a = torch.cat([y for _, y in a])
    order_b = torch.cat([y for _, y in b])
    assert torch.equal(order_a, order_b)
    assert sorted(order_a.tolist()) == list(range(10))
    assert not torch.equal(order_a, torch.arange(10))
    for x, y in a:
        assert torch.equal(x[:, 0].long(), y)


def test_epochs_differ_with_one_generator():
    loader = make(n=50, shuffle=True, generator=torch.Generator().manual_seed(0))
    first = torch.cat([y for _, y in loader])
    second = torch.cat([y for _, y in loader])
    assert not torch.equal(first, second)


def test_len_and_drop_last():
    assert len(make(n=10, bs=4)) == 3
    loader = make(n=10, bs=4, drop_last=True)
    assert len(loader) == 2
    assert sum(len(y) for _, y in loader) == 8


def test_batch_larger_than_data_gives_one_batch():
    loader = make(n=5, bs=64)
    assert len(loader) == 1
    assert len(next(iter(loader))[1]) == 5


def test_transform_applies_to_inputs_only():
    loader = make(transform=lambda x: x * 0)
    for x, y in loader:
        assert x.abs().sum() == 0
        assert y.abs().sum() >= 0
