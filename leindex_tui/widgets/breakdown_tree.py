"""The guide's memory-breakdown tree with live values that keep the user's expansion."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from engine.memory.status import BreakdownNode
from leindex_tui.widgets.formatting import format_mb

_SOURCE_MARKS = {"measured": "", "accounted": " ·acct", "derived": " ·calc"}
# Shown under the tree, so the marks explain themselves (the short one fits 34 columns).
SOURCE_LEGEND = "·acct accounted by the engine  ·calc derived"
SHORT_SOURCE_LEGEND = "·acct summed  ·calc derived"
TITLE = "Memory Breakdown"
# Below this many columns the tree goes compact: no root line (the total moves to the
# title), narrower guides and no share, so the longest label still fits without clipping.
COMPACT_BELOW_COLUMNS = 40


def node_label(
    node: BreakdownNode, total_mb: float, *, is_root: bool, compact: bool = False
) -> Text:
    """'Heap Memory: 1200 MB (39%)' as in the guide; the root reads 'Total Memory: … (RSS)'.

    `compact` drops the share, for a narrow pane.
    """
    if is_root:
        name = node.label.replace(" (RSS)", "")
        return Text.assemble((f"{name}: ", "bold"), (format_mb(node.mb), "bold"), " (RSS)")
    share = f" ({node.mb / total_mb * 100:.0f}%)" if total_mb > 0 and not compact else ""
    return Text.assemble(
        f"{node.label}: ",
        (format_mb(node.mb), "bold"),
        share,
        # Says how the figure was obtained, so nobody mistakes a sum for a measurement.
        (_SOURCE_MARKS.get(node.source, ""), "dim"),
    )


class BreakdownTree(Tree[str]):
    """Where the RSS goes; node labels change in place, so expanded branches stay expanded.

    The tree titles its own border (with the total when compact) and shows the marks' legend.
    """

    DEFAULT_CSS = """
    BreakdownTree {
        height: 1fr;
        background: transparent;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("Total Memory", data="total", id=id, classes=classes)
        self.guide_depth = 3
        self.show_root = True
        self._nodes_by_key: dict[str, TreeNode[str]] = {}
        self._labels_by_key: dict[str, Text] = {}
        self._breakdown: BreakdownNode | None = None
        self.compact = False

    def on_mount(self) -> None:
        self.border_title = TITLE
        self.border_subtitle = SOURCE_LEGEND
        # On a mount the size is known already; with no resize to come, set the mode now.
        self.on_resize()

    def on_resize(self) -> None:
        # The border's corners and padding take 6 cells of the subtitle line.
        fits = self.outer_size.width >= len(SOURCE_LEGEND) + 6
        self.border_subtitle = SOURCE_LEGEND if fits else SHORT_SOURCE_LEGEND
        compact = self.size.width < COMPACT_BELOW_COLUMNS
        if compact == self.compact:
            return
        self.compact = compact
        self.show_root = not compact
        self.guide_depth = 2 if compact else 3
        # Lines shift when the root line comes or goes: put the cursor on the first line, so
        # where it sits does not depend on how many resizes came before.
        self.cursor_line = 0
        if self._breakdown is not None:
            self.update_breakdown(self._breakdown)

    def update_breakdown(self, breakdown: BreakdownNode) -> None:
        """Show `breakdown`: relabel known keys, add new ones, drop vanished ones; never rebuild."""
        self._breakdown = breakdown
        title = f"Breakdown: {format_mb(breakdown.mb)} RSS" if self.compact else TITLE
        if self.border_title != title:
            self.border_title = title
        seen: set[str] = set()
        first_fill = not self._nodes_by_key
        total = breakdown.mb
        self._sync(self.root, breakdown, total, seen, is_root=True, expand=first_fill)
        for key in [key for key in self._nodes_by_key if key not in seen]:
            node = self._nodes_by_key.pop(key)
            self._labels_by_key.pop(key, None)
            if node.tree is self and node is not self.root and node.parent is not None:
                node.remove()

    def _sync(
        self,
        tree_node: TreeNode[str],
        breakdown: BreakdownNode,
        total_mb: float,
        seen: set[str],
        *,
        is_root: bool,
        expand: bool,
    ) -> None:
        seen.add(breakdown.key)
        self._nodes_by_key[breakdown.key] = tree_node
        label = node_label(breakdown, total_mb, is_root=is_root, compact=self.compact)
        if self._labels_by_key.get(breakdown.key) != label:
            self._labels_by_key[breakdown.key] = label
            tree_node.set_label(label)
        if expand and breakdown.children:
            tree_node.expand()
        tree_node.allow_expand = bool(breakdown.children)
        for child in breakdown.children:
            child_node = self._nodes_by_key.get(child.key)
            if child_node is not None and child_node.parent is not tree_node:
                child_node.remove()  # the engine moved this key under another parent
                child_node = None
            if child_node is None:
                child_node = tree_node.add(
                    "", data=child.key, expand=expand, allow_expand=bool(child.children)
                )
            self._sync(child_node, child, total_mb, seen, is_root=False, expand=expand)

    def expanded_keys(self) -> set[str]:
        """Keys of the nodes that are currently expanded (what the user opened)."""
        return {key for key, node in self._nodes_by_key.items() if node.is_expanded}
