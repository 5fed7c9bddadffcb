"""The device-specific kernels of ``infmae_mm.models.ops`` against their
reference implementations (values and gradients), the dispatch, and that no
other model file branches on the device type."""
import glob
import os.path as osp
import re

import pytest
import torch

from infmae_mm.models import ops

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _grads(out, inputs, grad):
    return torch.autograd.grad(out, inputs, grad)


@pytest.mark.parametrize('keys', [1, 49, ops.CPU_SHORT_ATTENTION, 80])
@pytest.mark.parametrize('with_bias', [False, True])
def test_cpu_attention_kernel_equals_reference(keys, with_bias):
    torch.manual_seed(0)
    shape_q, shape_kv = (2, 3, 5, 8), (2, 3, keys, 8)
    q = torch.randn(shape_q, dtype=torch.float64, requires_grad=True)
    k = torch.randn(shape_kv, dtype=torch.float64, requires_grad=True)
    v = torch.randn(shape_kv, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(1, 3, 5, keys, dtype=torch.float64) if with_bias \
        else None
    grad = torch.randn(shape_q, dtype=torch.float64)
    out = ops.attention_cpu(q, k, v, bias)
    ref = ops.attention_reference(q, k, v, bias)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(
            _grads(out, (q, k, v), grad), _grads(ref, (q, k, v), grad)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('side,kernel', [(4, 5), (2, 5), (3, 3), (7, 3)])
def test_cpu_depthwise_weight_grad_kernel_equals_reference(side, kernel):
    torch.manual_seed(0)
    M, C, S = 6, 5, side + kernel - 1
    # Channels-last in memory, as the visible path passes them.
    x = torch.randn(M, S, S, C, dtype=torch.float64).permute(0, 3, 1, 2)
    g = torch.randn(M, side, side, C, dtype=torch.float64).permute(0, 3, 1, 2)
    out = ops.depthwise_weight_grad_cpu(x, g, kernel)
    ref = ops.depthwise_weight_grad_reference(x, g, kernel)
    assert out.shape == ref.shape == (C, 1, kernel, kernel)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    # The reference is the gradient of a depthwise convolution.
    w = torch.zeros(
        C, 1, kernel, kernel, dtype=torch.float64, requires_grad=True)
    conv = torch.nn.functional.conv2d(x, w, groups=C)
    (auto, ) = torch.autograd.grad(conv, w, g)
    torch.testing.assert_close(ref, auto, rtol=1e-12, atol=1e-12)


def test_dispatch_picks_the_device_kernel_and_the_reference_when_traced():
    x = torch.zeros(1)
    assert ops.kernel_for('attention', x) is ops.attention_cpu
    assert ops.kernel_for('depthwise_weight_grad', x) is \
        ops.depthwise_weight_grad_cpu
    seen = []

    def probe(t):
        seen.append(ops.kernel_for('attention', t))
        return t + 1

    torch.jit.trace(probe, (x, ), check_trace=False)
    assert seen == [ops.attention_reference]
    meta = torch.zeros(1, device='meta')
    assert ops.kernel_for('attention', meta) is ops.attention_reference


def test_model_files_have_no_device_branches():
    """``device.type`` is read in ``infmae_mm/models/ops/`` only."""
    root = osp.join(REPO, 'infmae_mm', 'models')
    ops_dir = osp.join(root, 'ops') + osp.sep
    offending = []
    for path in glob.glob(osp.join(root, '**', '*.py'), recursive=True):
        if path.startswith(ops_dir):
            continue
        with open(path, encoding='utf-8') as f:
            for number, line in enumerate(f, 1):
                if re.search(r"device\.type|is_cuda|device == '", line):
                    offending.append(
                        f'{osp.relpath(path, REPO)}:{number}: {line.strip()}')
    assert not offending, '\n'.join(offending)
