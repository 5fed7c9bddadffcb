"""infmae_mm: InfMAE, the infrared foundation model, for OpenMMLab 2.x."""
import os.path as osp
from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(osp.dirname(__file__), 'infmae_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


PRETRAIN = ['mmpretrain>=1.2.0,<2.0']
SEG = ['mmsegmentation>=1.2.0,<2.0', 'ftfy', 'regex']
DET = ['mmdet>=3.3.0,<4.0', 'pycocotools']


def read_requirements(path: str) -> list:
    """Requirement lines of a requirements file (comments dropped)."""
    with open(osp.join(osp.dirname(__file__), path)) as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip()
        ]


setup(
    name='infmae_mm',
    version=read_version(),
    description='InfMAE infrared foundation model as an OpenMMLab 2.x plugin '
    '(mmpretrain pre-training, mmseg / mmdet fine-tuning, IRSTD)',
    long_description=open('README.md', encoding='utf-8').read()
    if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['infmae_mm', 'infmae_mm.*']),
    # 3.8: tests/test_python_compat.py parses every module with 3.8's grammar
    # and looks for newer run-time features; the reference stack is 3.11.
    python_requires='>=3.8',
    # Core: what InfMAEViT, the masking, the engine parts and the safe loader
    # need. Each host codebase is an extra, and only the hosts that are
    # installed get infmae_mm's components (infmae_mm.registry). Honest
    # ranges: the three hosts only overlap at mmcv 2.0.x / 2.1.x and
    # mmengine 0.x; requirements/reference.txt pins the measured stack.
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'numpy',
        'mmengine>=0.10,<1.0',
        'mmcv>=2.0.0,<2.2.0',
        'opencv-python',
    ],
    extras_require={
        # pre-training (mim train mmpretrain ...)
        'pretrain':
        PRETRAIN,
        # segmentation and IRSTD (mmseg); ftfy and regex are imported by
        # mmseg.utils but not declared by mmsegmentation 1.2.
        'seg':
        SEG,
        # detection (mmdet) and the M3FD converter's COCO output
        'det':
        DET,
        'all':
        PRETRAIN + SEG + DET,
        'tests':
        PRETRAIN + SEG + DET + [
            'pytest', 'pytest-timeout', 'scipy', 'onnx', 'onnxruntime',
            'flyr>=5.1'
        ],
        # FLIR radiometric JPEGs (R-JPEG) read as temperature maps
        'radiometric': ['flyr>=5.1'],
        'lint':
        read_requirements('requirements/lint.txt'),
        'mim': ['openmim>=0.3.9', 'setuptools<81'],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
