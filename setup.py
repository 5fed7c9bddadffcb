"""infmae_mm: InfMAE, the infrared foundation model, for OpenMMLab 2.x."""
import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(osp.dirname(__file__), 'infmae_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='infmae_mm',
    version=read_version(),
    description='InfMAE infrared foundation model as an OpenMMLab 2.x plugin '
    '(mmpretrain pre-training, mmseg / mmdet fine-tuning, IRSTD)',
    long_description=open('README.md', encoding='utf-8').read()
    if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['infmae_mm', 'infmae_mm.*']),
    python_requires='>=3.8',
    # Honest ranges: the three hosts only overlap at mmcv 2.0.x / 2.1.x and
    # mmengine 0.x; requirements/reference.txt pins the measured stack.
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'numpy',
        'mmengine>=0.10,<1.0',
        'mmcv>=2.0.0,<2.2.0',
        'mmpretrain>=1.2.0,<2.0',
        'mmsegmentation>=1.2.0,<2.0',
        'mmdet>=3.3.0,<4.0',
        'opencv-python',
        'ftfy',  # imported by mmseg.utils
        'regex',
    ],
    extras_require={
        'tests': ['pytest', 'pycocotools', 'scipy'],
        'det': ['pycocotools'],
        'mim': ['openmim>=0.3.9', 'setuptools<81'],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
