"""The docs hold together: every relative link in README.md, docs/*.md and benchmarks/README.md reaches an existing
file (and, with #anchor, a heading of it, as GitHub names headings); the README stays within 200 lines."""

import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README_MAX_LINES = 200
PAGES = sorted({os.path.join(ROOT, 'README.md'), os.path.join(ROOT, 'benchmarks', 'README.md'),
                *glob.glob(os.path.join(ROOT, 'docs', '*.md'))})
LINK = re.compile(r'(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)')
FENCE = re.compile(r'^\s*(```|~~~)')


def prose(text):
    """The text outside fenced code blocks and inline code, line by line (links in code are not links)."""
    inside = False
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield re.sub(r'`[^`]*`', '', line)


def links(path):
    with open(path, encoding='utf-8') as handle:
        return [m.group(1) for line in prose(handle.read()) for m in LINK.finditer(line)]


def github_anchor(heading):
    """GitHub's id for a heading: link text kept, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading).strip().lower()
    return re.sub(r'[^\w\- ]', '', text).replace(' ', '-')


def anchors(path):
    """Every heading id of a Markdown file, with GitHub's -1, -2 … for repeated headings."""
    seen, ids = {}, set()
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    inside = False
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
            continue
        heading = re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
        if heading and not inside:
            base = github_anchor(heading.group(1))
            count = seen.get(base, 0)
            ids.add(base if count == 0 else '%s-%d' % (base, count))
            seen[base] = count + 1
    return ids


def test_there_are_pages_and_they_have_links():
    assert os.path.join(ROOT, 'README.md') in PAGES and len(PAGES) > 2
    assert links(os.path.join(ROOT, 'README.md'))


@pytest.mark.parametrize('page', PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r'^[a-z][a-z0-9+.-]*:', target):  # http:, https:, mailto: … are not checked (no internet).
            continue
        file_part, _, anchor = target.partition('#')
        resolved = os.path.normpath(os.path.join(os.path.dirname(page), file_part)) if file_part else page
        if not os.path.exists(resolved):
            broken.append('%s (no such file)' % target)
        elif anchor and resolved.endswith('.md') and anchor not in anchors(resolved):
            broken.append('%s (no heading with that anchor)' % target)
    assert not broken, '%s: broken links: %s' % (os.path.relpath(page, ROOT), ', '.join(broken))


def test_readme_is_at_most_200_lines():
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as handle:
        count = len(handle.read().splitlines())
    assert count <= README_MAX_LINES, 'README.md has %d lines; move depth to docs/ (at most %d)' % (
        count, README_MAX_LINES)


def test_anchor_rule_matches_githubs():
    assert github_anchor('`python -m pipeline.compare`') == 'python--m-pipelinecompare'
    assert github_anchor('Local stack ↔ real OIC and BigQuery') == 'local-stack--real-oic-and-bigquery'
    assert github_anchor("The emulator's snapshot copy") == 'the-emulators-snapshot-copy'
    assert github_anchor('1. Enable the APIs (once per project)') == '1-enable-the-apis-once-per-project'
