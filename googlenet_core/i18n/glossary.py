"""One glossary of the field's terms, used by the whole catalog and shown in the app.

The Chinese follows the Chinese edition of *Dive into Deep Learning* (《动手学深度学习》,
zh.d2l.ai), the book most Chinese students learn from, wherever it has a term: 汇聚
for pooling (not 池化), 步幅 for stride, 批量规范化 for batch normalization, 暂退法
for dropout, 迭代周期 for epoch. A term the book lacks takes the usage of the paper's
Chinese readers. ``tests/test_i18n.py`` checks that every catalog entry whose English
uses a term says it with this Chinese, and that no entry uses a rejected variant
(``池化`` beside ``汇聚`` would teach a student two words for one thing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GLOSSARY", "Term", "glossary_rows"]


@dataclass(frozen=True)
class Term:
    english: str  # as the app's English says it
    chinese: str  # the one Chinese used everywhere
    pattern: str  # a regular expression (case-insensitive) finding the term in English text
    rejected: tuple[str, ...] = ()  # Chinese variants the catalog must not use

    def in_english(self, text: str) -> bool:
        return re.search(self.pattern, text, flags=re.IGNORECASE) is not None


GLOSSARY: tuple[Term, ...] = (
    Term("convolutional layer", "卷积层", r"\bconv(olution(al)?)? layers?\b"),
    Term("convolution", "卷积", r"\bconvolutions?\b"),
    Term("pooling", "汇聚", r"\bpool(ing)?\b(?![_a-z])", ("池化",)),
    Term("max pooling", "最大汇聚", r"\bmax[- ]pool(ing)?\b", ("最大池化",)),
    Term(
        "global average pooling",
        "全局平均汇聚",
        r"\bglobal average pool(ing)?\b",
        ("全局平均池化",),
    ),
    Term("padding", "填充", r"\bpadding\b"),
    Term("stride", "步幅", r"\bstrides?\b", ("步长",)),
    Term("channel", "通道", r"\bchannels?\b", ("信道",)),
    Term("receptive field", "感受野", r"\breceptive fields?\b", ("接受域", "感受域")),
    Term("feature map", "特征图", r"\bfeature maps?\b", ("特征映射",)),
    Term(
        "batch normalization",
        "批量规范化",
        r"\bbatch[- ]?norm(alization)?\b",
        ("批归一化", "批量归一化", "批标准化", "批量标准化"),
    ),
    Term("dropout", "暂退法", r"\bdropout\b", ("随机失活",)),
    Term("fully connected layer", "全连接层", r"\bfully[- ]connected\b", ("全联接",)),
    Term("learning rate", "学习率", r"\blearning rates?\b", ("学习速率",)),
    Term("weight decay", "权重衰减", r"\bweight decay\b"),
    Term("epoch", "迭代周期", r"\bepochs?\b", ("时期", "纪元", "轮次")),
    Term("batch size", "批量大小", r"\bbatch sizes?\b", ("批大小", "批次大小")),
    Term("auxiliary classifier", "辅助分类器", r"\baux(iliary)? (classifiers?|heads?)\b"),
    Term("number of parameters", "参数量", r"\bparameter counts?\b|\bnumber of parameters\b"),
    Term(
        "MACs (multiply-accumulates)",
        "乘加运算",
        r"\bMACs\b|\bmultiply-accumulates?\b",
        ("乘累加", "乘积累加"),
    ),
    Term("Inception block", "Inception 块", r"\binception blocks?\b", ("Inception 模块",)),
    Term("gradient", "梯度", r"\bgradients?\b"),
    Term("loss", "损失", r"\bloss(es)?\b"),
    # d2l writes 精度, but the app also speaks of numeric precision (float32): 准确率.
    Term("accuracy", "准确率", r"\baccuracy\b", ("正确率",)),
    Term("validation set", "验证集", r"\bvalidation (set|split)\b"),
    Term("training set", "训练集", r"\btraining (set|split)\b"),
    Term("checkpoint", "检查点", r"\bcheckpoints?\b"),
    Term("optimizer", "优化器", r"\boptimi[sz]ers?\b"),
    Term("branch", "分支", r"\bbranch(es)?\b"),
    Term("1x1 reduction", "1×1 降维", r"\b1[x×]1 reductions?\b"),
    Term("presentation mode", "演示模式", r"\bpresentation mode\b", ("展示模式", "放映模式")),
)


def glossary_rows() -> list[dict[str, str]]:
    """The glossary as table rows (English, 中文), for the Concepts page's expander."""
    return [{"English": term.english, "中文": term.chinese} for term in GLOSSARY]
