"""The masks are carried through a pre-training step (issue 23, item 2).

``IAMMask.ids_shuffle`` (the visible ids, then the masked ones) is made where
the masks are made and passed on: the loss, the decoder, the DDG bridge and
the three-branch fusion read it instead of rebuilding it with ``argsort``;
given a bare ``ids_restore`` (mmpretrain's MAE, the old interface) they
invert it with one scatter. Checked here against ``argsort``, and by running
a step with ``argsort`` made to fail.
"""
import numpy as np
import pytest
import torch

from infmae_mm.models.masking import (IAMMask, collate_masks,
                                      inverse_permutation, masks_from_order,
                                      shuffle_ids)
from tests.test_infmae import build, make_batch


def test_inverse_permutation_equals_argsort():
    torch.manual_seed(0)
    ids = torch.stack([torch.randperm(37) for _ in range(5)])
    torch.testing.assert_close(inverse_permutation(ids), ids.argsort(dim=1))
    torch.testing.assert_close(
        inverse_permutation(inverse_permutation(ids)), ids)


def test_masks_carry_their_shuffle_ids_through_collation():
    torch.manual_seed(1)
    order = torch.stack([torch.randperm(16) for _ in range(3)])
    masks = masks_from_order(order, 4)
    assert torch.equal(masks.ids_shuffle, order)
    assert torch.equal(masks.ids_restore, order.argsort(dim=1))
    assert torch.equal(masks.ids_keep, order[:, :4])
    per_image = [IAMMask(*(v[i].numpy() for v in masks)) for i in range(3)]
    batch = collate_masks(per_image)
    assert torch.equal(batch.ids_shuffle, order)
    # Masks made without them (by hand) still collate, and are inverted
    # where they are used.
    bare = collate_masks([IAMMask(*m[:3]) for m in per_image])
    assert bare.ids_shuffle is None
    restore, shuffle = shuffle_ids(bare)
    assert torch.equal(shuffle, order) and torch.equal(restore,
                                                       bare.ids_restore)


@pytest.fixture
def no_argsort(monkeypatch):
    """``argsort`` raises (function and method) while the fixture is on."""

    def refuse(*args, **kwargs):
        raise AssertionError('argsort called')

    monkeypatch.setattr(torch, 'argsort', refuse)
    monkeypatch.setattr(torch.Tensor, 'argsort', refuse)


@pytest.mark.parametrize('decode_masked_only', [True, False])
def test_a_loss_step_rebuilds_no_ids(decode_masked_only, no_argsort):
    model = build(decode_masked_only=decode_masked_only)
    data = make_batch(model)
    loss = model(**data, mode='loss')['loss']
    loss.backward()
    assert torch.isfinite(loss)


def test_decoder_gives_the_same_with_masks_or_their_restore_ids():
    model = build()
    data = make_batch(model)
    masks = model.compute_masks(data['inputs'], data['data_samples'])
    latent = model.backbone(data['inputs'], masks, model.stage_fusion)[0]
    masked = masks.ids_shuffle[:, latent.shape[1]:]
    with torch.no_grad():
        for query in (None, masked):
            torch.testing.assert_close(
                model.neck(latent, masks, query_ids=query),
                model.neck(latent, masks.ids_restore, query_ids=query))


@pytest.mark.parametrize('form', ['paper', 'code'])
def test_the_dugi_bridge_reads_the_carried_masks(form):
    from tests.test_dugi import dugi_model
    model = dugi_model(form)
    x = torch.randn(2, 3, 64, 64)
    masks = model.compute_masks(x)
    assert masks.ids_shuffle is not None
    latent = model.backbone(x, masks, model.stage_fusion)[0]
    with torch.no_grad():
        carried = model.neck(latent, masks, images=x)
        bare = model.neck(latent, masks.ids_restore, images=x)
    torch.testing.assert_close(carried, bare)
    assert np.isfinite(carried.numpy()).all()


def test_a_dugi_loss_step_rebuilds_no_ids(no_argsort):
    from tests.test_dugi import dugi_model
    model = dugi_model('code')
    loss = model.loss(torch.randn(2, 3, 64, 64), [])['loss']
    loss.backward()
    assert torch.isfinite(loss)
