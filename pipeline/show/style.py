"""The page's look in one inline stylesheet: displaCy's entity colours and boxes, quote marks, layout."""

from __future__ import annotations

from spacy.displacy.render import DEFAULT_ENTITY_COLOR, DEFAULT_LABEL_COLORS

# Colours no entity label uses, so a screenshot tells quotes from entities (tests/unit/test_show_chromium.py).
QUOTE_BACKGROUND = "#e1ecfa"  # direct and mixed quotes
QUOTE_INK = "#2f5d9e"  # the quote's tag, its underline, the speaker's underline
BODY_RULE = "#b4bdca"  # the rule left of the body, and nowhere else: a screenshot finds the body by it


def label_colour(label: str) -> str:
    """displaCy's colour for an entity label (its grey for labels it does not know)."""
    colour: str = DEFAULT_LABEL_COLORS.get(label.upper(), DEFAULT_ENTITY_COLOR)
    return colour


# Labels (entity labels, quote tags, paragraph numbers) are drawn from data-* attributes by the stylesheet,
# so the text of the page's body is the article's body and nothing else.
STYLESHEET = f"""
body {{ margin: 0; padding: 2rem 2.5rem 4rem 4rem; max-width: 62rem; color: #222; background: #fff;
  font: 16px/1.5 -apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif; }}
header.record {{ font-size: 0.85rem; color: #555; display: flex; flex-wrap: wrap; gap: 0.3rem 1.2rem;
  align-items: center; }}
header.record code {{ color: #222; }}
.outcome {{ font-weight: bold; text-transform: uppercase; letter-spacing: 0.05em; padding: 0.15em 0.55em;
  border-radius: 0.35em; background: #e8e8e8; color: #333; }}
.outcome-enriched {{ background: #dff3e2; color: #1c6b2c; }}
.outcome-update {{ background: #e0e9f7; color: #1f4f91; }}
.outcome-withdrawn, .outcome-dead-letter {{ background: #fbe1e1; color: #9b1c1c; }}
h1.headline {{ font-size: 1.55rem; line-height: 2.3; margin: 0.8rem 0 0.2rem; }}
.byline, .dateline {{ margin: 0.2rem 0; line-height: 2.5; color: #444; }}
.dateline .parts {{ color: #777; font-size: 0.85rem; margin-left: 0.6rem; }}
.notice {{ border-left: 4px solid #d9a400; background: #fff8e1; padding: 0.6rem 1rem; margin: 1rem 0; }}
article.body {{ border-left: 4px solid {BODY_RULE}; padding-left: 1.25rem; margin: 1.5rem 0;
  line-height: 2.5; }}
article.body p {{ margin: 0 0 0.8rem; white-space: pre-wrap; }}
article.body p::before {{ content: "¶" attr(data-paragraph); float: left; width: 2rem; margin-left: -4.1rem;
  text-align: right; color: #999; font-size: 0.75rem; }}
mark {{ color: inherit; background: transparent; }}
mark.ent {{ background: var(--ent, {DEFAULT_ENTITY_COLOR}); padding: 0.45em 0.6em; margin: 0 0.25em;
  line-height: 1; border-radius: 0.35em; -webkit-box-decoration-break: clone; box-decoration-break: clone; }}
mark.ent[data-label]::after {{ content: attr(data-label); font-size: 0.8em; font-weight: bold; line-height: 1;
  vertical-align: middle; margin-left: 0.5rem; white-space: nowrap; }}
mark.quote {{ background: {QUOTE_BACKGROUND}; border-bottom: 2px solid {QUOTE_INK}; padding: 0.35em 0.1em;
  -webkit-box-decoration-break: clone; box-decoration-break: clone; }}
mark.quote.indirect {{ background: transparent; border-bottom: 2px dashed {QUOTE_INK}; }}
mark.quote[data-label]::before {{ content: attr(data-label); background: {QUOTE_INK}; color: #fff;
  font-size: 0.7em; font-weight: bold; letter-spacing: 0.03em; padding: 0.2em 0.45em; margin-right: 0.35em;
  border-radius: 0.3em; vertical-align: middle; white-space: nowrap; }}
mark.speaker {{ text-decoration: underline dotted {QUOTE_INK} 2px; text-underline-offset: 0.3em; }}
section {{ margin-top: 2rem; }}
h2 {{ font-size: 1.1rem; border-bottom: 1px solid #ddd; padding-bottom: 0.3rem; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.88rem; }}
th, td {{ text-align: left; vertical-align: top; padding: 0.35rem 0.5rem; border-bottom: 1px solid #eee; }}
th {{ color: #555; font-weight: 600; }}
td code {{ white-space: nowrap; }}
.chip {{ background: var(--ent, {DEFAULT_ENTITY_COLOR}); font-weight: bold; font-size: 0.8em;
  padding: 0.15em 0.45em; border-radius: 0.35em; }}
.muted {{ color: #888; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; }}
dt {{ font-weight: 600; }}
dd {{ margin: 0; }}
del {{ background: #fde2e2; color: #8a1c1c; }}
ins {{ background: #dcf5df; color: #1c6b2c; text-decoration: none; }}
section.changes h3 {{ font-size: 0.95rem; margin: 1rem 0 0.3rem; }}
section.changes .summary {{ font-weight: 600; }}
pre {{ background: #f6f6f6; padding: 0.6rem; overflow-x: auto; white-space: pre-wrap; font-size: 0.85rem; }}
"""
