# UNIP's test loader, for mmpretrain's model APIs: `FeatureExtractor(NAME_OR_
# CONFIG)` turns the images it is given gray (3 identical channels, as UNIP
# pre-trains), resizes (short side 224, bicubic) and centre-crops them (see
# test_loader.py); the student's data preprocessor normalises them with the
# InfMix statistics and the features are the student's (UNIP.extract_feat).
# The teacher's file is not needed: the student builds without it, with a
# warning. UNIP has no test metric (the distillation model predicts
# nothing), so the evaluator is empty; mmengine wants the three test keys
# together.
_base_ = './test_loader.py'

test_evaluator = []
