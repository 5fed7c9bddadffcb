"""No information from a masked patch may reach the visible tokens."""
import torch

from infmae_mm.models import InfMAEStageFusion, InfMAEViT, select_tokens


def test_masked_patches_do_not_reach_visible_tokens():
    torch.manual_seed(0)
    model = InfMAEViT(arch='nano')
    model.init_weights()
    fusion = InfMAEStageFusion(model.embed_dims[:2], model.embed_dims[2])
    model.eval()
    x = torch.randn(2, 3, 96, 128)
    iam = select_tokens(torch.rand(2, 48), stride=4)
    with torch.no_grad():
        ref, _, _ = model(x, iam, fusion)
        # Overwrite every masked 16x16 patch with large noise.
        pixel_mask = iam.mask.reshape(2, 1, 6, 8).repeat_interleave(
            16, 2).repeat_interleave(16, 3)
        corrupted = torch.where(pixel_mask.bool(), 50 * torch.randn_like(x), x)
        out, _, _ = model(corrupted, iam, fusion)
        # Changing one visible patch must change the output.
        visible_id = iam.ids_keep[0, 0].item()
        r, c = divmod(visible_id, 8)
        poked = x.clone()
        poked[0, :, 16 * r:16 * r + 16, 16 * c:16 * c + 16] += 1.
        changed, _, _ = model(poked, iam, fusion)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)
    assert (changed[0] - ref[0]).abs().max() > 1e-3
