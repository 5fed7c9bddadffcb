"""The Python side of ``tools/gpu_check.sh`` (one prepared GPU check).

    python tools/gpu_check.py prepare --logs DIR [--simulate-no-cuda]
    python tools/gpu_check.py report --logs DIR [--json-dir docs/benchmarks]
        [--step NAME=RC ...] [--out OUT_DIR] [--simulate-no-cuda]

``prepare`` records the machine (``env.json``: device, torch, CUDA, host
package versions) and, where mmcv has no compiled ops (``mmcv-lite``),
installs ``tools/gpu_check_mmcv_ext.py`` as ``mmcv/_ext.py`` so that
``mmseg.models`` and ``mmdet.models`` import (nms and RoIAlign computed by
torchvision, every other compiled op raising). It exits 0 when a CUDA device
is present and 3 when not (``--simulate-no-cuda`` forces the latter).

``report`` gathers the steps' exit codes, the ``cuda`` tests' JUnit XML and
the benchmark's JSON into ``<json-dir>/<device name>.json`` (atomically; only
when a GPU ran: without one the report goes to the logs alone), prints a
summary and copies the report and the logs to ``--out`` (default: ``$OUT``
when set). Exit code 0 whatever the steps' outcome: they are in the report.
"""
import argparse
import datetime
import importlib
import importlib.util
import json
import os
import os.path as osp
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MMCV_EXT_FALLBACK = osp.join(REPO, 'tools', 'gpu_check_mmcv_ext.py')
HOSTS = ('numpy', 'torch', 'torchvision', 'mmengine', 'mmcv', 'mmpretrain',
         'mmseg', 'mmdet')
NO_CUDA = 3
DRY_RUN_NAME = 'cpu-dry-run'
#: Files copied to $OUT (the device tool brings back at most 8).
LOG_FILES = ('env.json', 'cuda_tests.log', 'cuda_tests.xml', 'benchmark.log',
             'benchmark.json')
MAX_LOG_BYTES = 8 * 2**20


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    prep = sub.add_parser(
        'prepare',
        help='record the machine, install the '
        'mmcv op fallback where needed; exit 3 without CUDA')
    rep = sub.add_parser('report', help='write the JSON report')
    for p in (prep, rep):
        p.add_argument('--logs', required=True, help='log folder')
        mode = p.add_mutually_exclusive_group()
        mode.add_argument(
            '--simulate-no-cuda',
            action='store_true',
            help='behave as on a machine without CUDA')
        mode.add_argument(
            '--dry-run-cpu',
            action='store_true',
            help='treat the CPU as the device (a dry run of '
            'the whole check; the report is named '
            f'{DRY_RUN_NAME!r})')
    rep.add_argument(
        '--json-dir', default=osp.join(REPO, 'docs', 'benchmarks'))
    rep.add_argument(
        '--step',
        action='append',
        default=[],
        metavar='NAME=RC',
        help='a step\'s exit code')
    rep.add_argument(
        '--out',
        default=os.environ.get('OUT') or None,
        help='copy the report and logs here (default: $OUT)')
    args = parser.parse_args(argv)
    if args.command == 'report':
        steps = {}
        for item in args.step:
            name, sep, rc = item.partition('=')
            if not sep or not name or not re.fullmatch(r'-?\d+', rc):
                parser.error(f'--step expects NAME=RC (an integer exit '
                             f'code), got {item!r}')
            steps[name] = int(rc)
        args.step = steps
    return args


def cuda_device(simulate_no_cuda: bool,
                dry_run_cpu: bool = False) -> Optional[str]:
    """The CUDA device's name, or None without one."""
    if simulate_no_cuda:
        return None
    if dry_run_cpu:
        return DRY_RUN_NAME
    import torch
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(0)


def versions() -> Dict[str, Optional[str]]:
    found = {}
    for name in HOSTS:
        try:
            found[name] = getattr(
                importlib.import_module(name), '__version__', 'unknown')
        except Exception as exc:  # report, do not fail: the tests will
            found[name] = f'not importable: {type(exc).__name__}: {exc}'[:200]
    return found


def install_mmcv_ext_fallback() -> str:
    """Install the op fallback into mmcv when it has no compiled ops."""
    spec = importlib.util.find_spec('mmcv')
    if spec is None or not spec.submodule_search_locations:
        return 'mmcv is not installed'
    ext = importlib.util.find_spec('mmcv._ext')
    if ext is not None:
        return ('mmcv-lite with the fallback already installed' if
                (ext.origin
                 or '').endswith('.py') else 'mmcv has its compiled ops')
    target = osp.join(list(spec.submodule_search_locations)[0], '_ext.py')
    shutil.copyfile(MMCV_EXT_FALLBACK, target)
    return (f'mmcv-lite: installed tools/gpu_check_mmcv_ext.py as {target} '
            '(nms and RoIAlign by torchvision; other compiled ops raise)')


def ensure_distutils() -> str:
    """Make ``from distutils import errors`` work for every process.

    mmengine's ``collect_env`` (run by every Runner) imports it; Python 3.12
    has no ``distutils`` and setuptools provides it only through a ``.pth``
    hook that folders on ``PYTHONPATH`` (where carried wheels go) do not run.
    Where it is missing, setuptools' own copy is placed beside setuptools as
    ``distutils``.
    """
    probe = subprocess.run([sys.executable, '-c', 'import distutils'],
                           capture_output=True)
    if probe.returncode == 0:
        return 'importable'
    spec = importlib.util.find_spec('setuptools')
    if spec is None or not spec.submodule_search_locations:
        return 'missing, and no setuptools to take it from'
    package = list(spec.submodule_search_locations)[0]
    target = osp.join(osp.dirname(package), 'distutils')
    shutil.copytree(
        osp.join(package, '_distutils'), target, dirs_exist_ok=True)
    return f'missing: installed setuptools/_distutils as {target}'


def probe_import(module: str) -> Optional[str]:
    """None when ``module`` imports in a fresh interpreter, else the last line
    of its error."""
    probe = subprocess.run([sys.executable, '-c', f'import {module}'],
                           capture_output=True,
                           text=True)
    if probe.returncode == 0:
        return None
    lines = probe.stderr.strip().splitlines() or ['(no message)']
    return lines[-1][:200]


def disable_mmpretrain_multimodal() -> str:
    """Let ``mmpretrain.models`` import next to an incompatible transformers.

    mmpretrain 1.2 imports its BLIP / multimodal models whenever
    ``transformers`` and ``pycocotools`` are importable; with the transformers
    5.x of current GPU images that import fails and takes
    ``mmpretrain.models`` with it. The package uses no multimodal model, so
    where the probe fails the installed copy's ``WITH_MULTIMODAL`` flag is
    turned off.
    """
    error = probe_import('mmpretrain.models')
    if error is None:
        return 'mmpretrain.models imports'
    spec = importlib.util.find_spec('mmpretrain')
    if spec is None or not spec.submodule_search_locations:
        return f'mmpretrain is not installed ({error})'
    path = osp.join(
        list(spec.submodule_search_locations)[0], 'utils', 'dependency.py')
    with open(path) as f:
        text = f.read()
    flag = 'WITH_MULTIMODAL = all('
    if flag not in text:
        return f'mmpretrain.models does not import: {error}'
    atomic_write(path, text.replace(flag, 'WITH_MULTIMODAL = False and all(',
                                    1))
    after = probe_import('mmpretrain.models')
    return (f'multimodal models turned off ({error}): ' +
            ('mmpretrain.models imports now'
             if after is None else f'still fails: {after}'))


def atomic_write(path: str, text: str) -> None:
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-')
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


def prepare(args: argparse.Namespace) -> int:
    os.makedirs(args.logs, exist_ok=True)
    name = cuda_device(args.simulate_no_cuda, args.dry_run_cpu)
    env = dict(
        device=name,
        cuda=name is not None,
        simulated_no_cuda=args.simulate_no_cuda,
        python=sys.version.split()[0],
        platform=platform.platform(),
        mmcv_ops=install_mmcv_ext_fallback() if name else 'not checked',
        distutils=ensure_distutils() if name else 'not checked',
        mmpretrain_multimodal=disable_mmpretrain_multimodal()
        if name else 'not checked',
    )
    env['versions'] = versions()
    if name and not args.dry_run_cpu:
        import torch
        env['torch_cuda'] = torch.version.cuda
        env['bf16'] = torch.cuda.is_bf16_supported()
        env['memory_gib'] = round(
            torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    atomic_write(osp.join(args.logs, 'env.json'), json.dumps(env, indent=2))
    print(json.dumps(env, indent=2))
    if name is None:
        print('gpu_check: no CUDA device: the GPU tests and benchmark are '
              'skipped')
        return NO_CUDA
    return 0


def junit_cases(path: str) -> List[dict]:
    """Per-test outcome, seconds and message from pytest's JUnit XML."""
    cases = []
    for case in ET.parse(path).getroot().iter('testcase'):
        outcome, message = 'passed', ''
        for tag in ('failure', 'error', 'skipped'):
            node = case.find(tag)
            if node is not None:
                outcome = {'failure': 'failed'}.get(tag, tag)
                message = (node.get('message') or node.text or '')[:2000]
                break
        cases.append(
            dict(
                name=f'{case.get("classname", "")}::{case.get("name")}',
                outcome=outcome,
                seconds=float(case.get('time') or 0),
                message=message))
    return cases


def file_name(device: str) -> str:
    """``docs/benchmarks`` file name for a device name."""
    return re.sub(r'[^A-Za-z0-9._-]+', '-', device).strip('-') + '.json'


def report(args: argparse.Namespace) -> int:
    env_path = osp.join(args.logs, 'env.json')
    env = json.load(open(env_path)) if osp.exists(env_path) else {}
    device = None if args.simulate_no_cuda else env.get('device')
    result = dict(
        device=device,
        generated=datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec='seconds'),
        env=env,
        steps={
            name: dict(rc=rc, timed_out=rc in (124, 137), ok=rc == 0)
            for name, rc in args.step.items()
        })
    if device is None:
        result['status'] = 'skipped: no CUDA device'
    else:
        xml = osp.join(args.logs, 'cuda_tests.xml')
        if osp.exists(xml):
            cases = junit_cases(xml)
            result['tests'] = dict(
                cases=cases,
                **{
                    outcome: sum(c['outcome'] == outcome for c in cases)
                    for outcome in ('passed', 'failed', 'error', 'skipped')
                })
        else:
            result['tests'] = dict(missing='no JUnit XML (the test step '
                                   'did not finish)')
        bench = osp.join(args.logs, 'benchmark.json')
        result['benchmark'] = json.load(
            open(bench)) if osp.exists(bench) else dict(
                missing='no benchmark JSON (the benchmark step '
                'did not finish)')
        problems = [
            f'step {n} exit {s["rc"]}' for n, s in result['steps'].items()
            if not s['ok']
        ]
        tests = result['tests']
        if 'missing' in tests:
            problems.append(tests['missing'])
        elif tests['failed'] or tests['error']:
            problems.append(f'{tests["failed"]} tests failed, '
                            f'{tests["error"]} errors')
        result['status'] = 'ok' if not problems else \
            'problems: ' + '; '.join(problems)
    text = json.dumps(result, indent=2)
    written = [osp.join(args.logs, 'gpu_check.json')]
    atomic_write(written[0], text)
    if device is not None:
        written.append(osp.join(args.json_dir, file_name(device)))
        atomic_write(written[1], text)
    print(summary(result))
    for path in written:
        print(f'Wrote {path}')
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        shutil.copyfile(written[-1],
                        osp.join(args.out, osp.basename(written[-1])))
        for name in LOG_FILES:
            src = osp.join(args.logs, name)
            if osp.exists(src):
                with open(src, 'rb') as f:
                    f.seek(max(0, osp.getsize(src) - MAX_LOG_BYTES))
                    data = f.read()
                with open(osp.join(args.out, name), 'wb') as f:
                    f.write(data)
        print(f'Copied the report and logs to {args.out}')
    return 0


def summary(result: dict) -> str:
    lines = [
        f'gpu_check: {result["device"] or "no CUDA device"}: '
        f'{result["status"]}'
    ]
    for name, step in result['steps'].items():
        lines.append(f'  step {name}: exit {step["rc"]}'
                     f'{" (timed out)" if step["timed_out"] else ""}')
    tests = result.get('tests', {})
    for case in tests.get('cases', []):
        lines.append(f'  {case["outcome"]:7s} {case["seconds"]:6.1f} s  '
                     f'{case["name"]}')
        if case['outcome'] in ('failed', 'error'):
            lines.append('          ' +
                         case['message'][:300].replace('\n', ' '))
    table = result.get('benchmark', {}).get('table')
    if table:
        lines += ['', table]
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    return prepare(args) if args.command == 'prepare' else report(args)


if __name__ == '__main__':
    sys.exit(main())
