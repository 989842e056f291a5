"""`pamphlet check`: the preflight report an editor acts on, and its exit status."""

from __future__ import annotations

import pypdf
from PIL import ImageCms
from test_cli import pamphlet

from pamphlet.targets import DEFAULT_PROFILE, PROFILES

LONG = ("Drivers at the depot said the new rota would wreck their weekends and their health. "
        * 40 + "\n\n") * 5


def test_a_clean_issue_checks_out_and_nothing_is_written(publication):
    result = pamphlet("check", "issue-1", "--target", "office", "--target", "email")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("office: 2 pages, ")
    assert result.output.count("no problems found") == 2
    assert not (publication.root / "build").exists() or not any((publication.root / "build").glob("*.pdf"))


def test_a_bulletin_running_onto_a_third_side_is_an_error_with_its_size(publication):
    lead = publication.root / "issues" / "issue-1" / "lead.md"
    lead.write_text(lead.read_text() + "\n\n" + LONG)
    result = pamphlet("check", "issue-1")
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if "ERROR" in line)
    assert "the bulletin layout takes at most 2 pages, this issue needs" in line
    assert "words" in line and "lines) too many" in line
    assert "the text runs past page 2 from lead.md on" in line
    words_over = int(line.split("about ")[1].split(" words")[0])
    assert 1000 < words_over < 3600, "the overflow is about the text added, less what fitted"
    # build refuses the same, and leaves no PDF
    assert pamphlet("build", "issue-1").exit_code == 1
    assert not publication.pdf.exists()


def test_strict_fails_on_warnings(publication):
    publication.use_layout("green-sheet", {"layout.yaml": "extends: bulletin\n",
                                           "style.css": "h2 { color: rgb(0, 128, 0); }\n"})
    result = pamphlet("check", "issue-1")
    assert result.exit_code == 0, result.output
    assert "warning: page 1 uses RGB colour: an office printer turns it into a grey" in result.output
    assert pamphlet("check", "issue-1", "--strict").exit_code == 1
    printshop = pamphlet("check", "issue-1", "--target", "printshop")
    assert printshop.exit_code == 1
    assert "ERROR: page 1 uses RGB colour: a print shop's PDF/X must be CMYK or grey" in printshop.output


def test_an_unknown_target_is_one_plain_line(publication):
    result = pamphlet("check", "issue-1", "--target", "photocopier")
    assert result.exit_code == 1
    assert "there is no target called 'photocopier'" in result.output
    assert "office, printshop, email, archive" in result.output


def test_a_character_no_font_has_is_named_in_plain_words(publication):
    short = publication.root / "issues" / "issue-1" / "short.md"
    short.write_text(short.read_text() + "\n\nThe sign said \U000F0001 in a private-use glyph.\n")
    result = pamphlet("check", "issue-1")
    assert result.exit_code == 0, result.output
    assert 'no font has the character "\U000F0001" (U+F0001): it prints as an empty box' in result.output


def test_the_manifest_lists_what_to_build(publication):
    text = publication.manifest.read_text()
    publication.manifest.write_text(text + "targets: [office, email]\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 0, result.output
    built = sorted(p.name for p in (publication.root / "build").glob("*.pdf"))
    assert built == ["issue-1.email.pdf", "issue-1.office.pdf"]
    assert pamphlet("build", "issue-1", "--out", "x.pdf").exit_code == 1, "--out names one file"
    publication.manifest.write_text(text + "targets: [office, photocopier]\n")
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    line = len(text.splitlines()) + 1
    assert f"issue-1.yaml:{line}: unknown target(s): photocopier" in result.output


def test_a_layouts_own_colour_profile_must_be_a_cmyk_file_in_its_folder(publication):
    folder = publication.use_layout("shop", {"layout.yaml": "extends: bulletin\n"
                                                            "icc_profile: press.icc\n"})
    result = pamphlet("build", "issue-1", "--target", "printshop")
    assert result.exit_code == 1
    assert ("layouts/shop/layout.yaml: icc_profile: press.icc is not a file in the layout's "
            "folder") in result.output
    assert pamphlet("build", "issue-1").exit_code == 0, "only the print shop uses the profile"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    (folder / "press.icc").write_bytes(srgb)
    result = pamphlet("build", "issue-1", "--target", "printshop")
    assert result.exit_code == 1
    assert "icc_profile: press.icc is not a CMYK output profile" in result.output
    (folder / "press.icc").write_bytes((PROFILES / DEFAULT_PROFILE).read_bytes())
    result = pamphlet("build", "issue-1", "--target", "printshop")
    assert result.exit_code == 0, result.output
    catalog = pypdf.PdfReader(publication.root / "build" / "issue-1.printshop.pdf").trailer["/Root"]
    intent = catalog["/OutputIntents"][0]
    assert intent["/OutputConditionIdentifier"] != "FOGRA39", "only our own profile is named so"


def test_a_layouts_unknown_default_target_names_its_settings(publication):
    publication.use_layout("odd", {"layout.yaml": "extends: bulletin\ntarget: riso\n"})
    result = pamphlet("build", "issue-1")
    assert result.exit_code == 1
    assert "layouts/odd/layout.yaml: there is no target called 'riso'" in result.output
