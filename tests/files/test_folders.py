"""Folders over REST and in the admin: a per-company tree, unique names, no cycles, subtree delete."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from files.models import File, Folder
from files.services import delete_folder
from tenancy.context import company_context

from ..factories import FileFactory, FolderFactory
from ..unscoped import stored

FOLDERS = "/api/folders"


def live_folder_names(company) -> list[str]:
    with company_context(company):
        return sorted(Folder.objects.values_list("name", flat=True))


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Create and list


def test_folders_nest_and_stay_in_their_company(client_a, client_b, company_a, user_a):
    """A folder and a subfolder are stored for A with A's user; B neither lists nor reads them."""
    top = client_a.post(FOLDERS, {"name": "Contracts"}, format="json")
    sub = client_a.post(FOLDERS, {"name": "2025", "parent": top.json()["id"]}, format="json")

    assert top.status_code == sub.status_code == 201, (top.content, sub.content)
    assert (top.json()["company"], top.json()["user"], top.json()["parent"]) == (
        str(company_a.pk),
        str(user_a.pk),
        None,
    )
    assert sub.json()["parent"] == top.json()["id"]
    assert names(client_a.get(FOLDERS)) == ["2025", "Contracts"]
    assert client_b.get(FOLDERS).json()["count"] == 0
    assert client_b.get(f"{FOLDERS}/{sub.json()['id']}").status_code == 404


def test_parent_filter_lists_one_level_and_root_lists_the_top(client_a, client_b, company_a, company_b):
    """?parent=<id> lists that folder's children, ?parent=root the top level, for the own company only."""
    contracts = FolderFactory(company=company_a, name="Contracts")
    FolderFactory(company=company_a, name="2025", parent=contracts)
    FolderFactory(company=company_a, name="Marketing")
    FolderFactory(company=company_b, name="Their top folder")

    assert names(client_a.get(FOLDERS, {"parent": str(contracts.pk)})) == ["2025"]
    assert names(client_a.get(FOLDERS, {"parent": "root"})) == ["Contracts", "Marketing"]
    assert names(client_b.get(FOLDERS, {"parent": "root"})) == ["Their top folder"]
    assert names(client_b.get(FOLDERS, {"parent": str(contracts.pk)})) == []


def test_a_parent_filter_that_is_no_folder_id_is_a_400(client_a):
    """?parent= takes a folder id or "root"; anything else is a clear 400, not a 500."""
    response = client_a.get(FOLDERS, {"parent": "not-a-folder"})

    assert response.status_code == 400
    assert "root" in str(response.json()["parent"])


def test_tree_nests_every_folder_of_the_company(client_a, client_b, company_a, company_b):
    """GET /api/folders/tree answers A's whole tree nested by parent; B's tree holds only B's folders."""
    contracts = FolderFactory(company=company_a, name="Contracts")
    year = FolderFactory(company=company_a, name="2025", parent=contracts)
    FolderFactory(company=company_a, name="Q1", parent=year)
    FolderFactory(company=company_a, name="Marketing")
    FolderFactory(company=company_b, name="B only")

    tree_a = client_a.get(f"{FOLDERS}/tree")
    tree_b = client_b.get(f"{FOLDERS}/tree")

    assert tree_a.status_code == 200
    assert [node["name"] for node in tree_a.json()] == ["Contracts", "Marketing"]
    contracts_node = tree_a.json()[0]
    assert contracts_node["parent"] is None
    assert [child["name"] for child in contracts_node["children"]] == ["2025"]
    assert contracts_node["children"][0]["parent"] == str(contracts.pk)
    assert [child["name"] for child in contracts_node["children"][0]["children"]] == ["Q1"]
    assert [node["name"] for node in tree_b.json()] == ["B only"]


# Unique names


@pytest.mark.parametrize("duplicate", ["Contracts", "contracts", "  Contracts  "])
def test_a_duplicate_name_at_the_top_level_is_a_400(client_a, company_a, duplicate):
    """Top-level names are unique too (ignoring case and outer spaces): a 400 on name, nothing stored."""
    FolderFactory(company=company_a, name="Contracts")

    response = client_a.post(FOLDERS, {"name": duplicate}, format="json")

    assert response.status_code == 400
    assert "already exists in the top level" in response.json()["name"][0]
    assert live_folder_names(company_a) == ["Contracts"]


def test_a_duplicate_name_inside_a_parent_is_a_400_but_fine_elsewhere(client_a, client_b, company_a):
    """The same name twice in one parent is refused; in another parent or another company it is fine."""
    contracts = FolderFactory(company=company_a, name="Contracts")
    marketing = FolderFactory(company=company_a, name="Marketing")
    FolderFactory(company=company_a, name="2025", parent=contracts)

    duplicate = client_a.post(FOLDERS, {"name": "2025", "parent": str(contracts.pk)}, format="json")
    other_parent = client_a.post(FOLDERS, {"name": "2025", "parent": str(marketing.pk)}, format="json")
    other_company = client_b.post(FOLDERS, {"name": "Contracts"}, format="json")

    assert duplicate.status_code == 400
    assert duplicate.json()["name"] == ['A folder named "2025" already exists in "Contracts".']
    assert other_parent.status_code == 201, other_parent.content
    assert other_company.status_code == 201, other_company.content
    assert live_folder_names(company_a) == ["2025", "2025", "Contracts", "Marketing"]


def test_renaming_or_moving_onto_a_taken_name_is_a_400(client_a, company_a):
    """A rename to a sibling's name, or a move next to a folder of the same name, changes nothing."""
    contracts = FolderFactory(company=company_a, name="Contracts")
    FolderFactory(company=company_a, name="Archive", parent=contracts)
    archive = FolderFactory(company=company_a, name="Archive")
    drafts = FolderFactory(company=company_a, name="Drafts")
    before = (stored(Folder, archive.pk), stored(Folder, drafts.pk))

    renamed = client_a.patch(f"{FOLDERS}/{drafts.pk}", {"name": "archive"}, format="json")
    moved = client_a.patch(f"{FOLDERS}/{archive.pk}", {"parent": str(contracts.pk)}, format="json")

    assert renamed.status_code == moved.status_code == 400
    assert "already exists" in renamed.json()["name"][0]
    assert "already exists" in moved.json()["name"][0]
    after = (stored(Folder, archive.pk), stored(Folder, drafts.pk))
    assert [(f.name, f.parent_id) for f in after] == [(f.name, f.parent_id) for f in before]


def test_a_deleted_folder_frees_its_name(client_a, company_a):
    """Once a folder is deleted, a new folder may take its name in the same place."""
    old = FolderFactory(company=company_a, name="Contracts")
    assert client_a.delete(f"{FOLDERS}/{old.pk}").status_code == 204

    response = client_a.post(FOLDERS, {"name": "Contracts"}, format="json")

    assert response.status_code == 201, response.content
    assert live_folder_names(company_a) == ["Contracts"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "blank"),
        ("a/b", '"/"'),
        ("a\\b", '"/"'),
        ("..", '".."'),
        ("two\nlines", "control characters"),
    ],
)
def test_an_unusable_folder_name_is_a_400(client_a, company_a, name, message):
    """Blank names, path separators, dot names and control characters are refused with a reason."""
    response = client_a.post(FOLDERS, {"name": name}, format="json")

    assert response.status_code == 400
    assert message in str(response.json()["name"])
    assert live_folder_names(company_a) == []


@pytest.mark.parametrize(
    "name",
    [
        "Contracts",
        "  Q1 2025  ",
        "Ünïcödé ✓ 契約",
        "family \U0001f468\u200d\U0001f469",
        "private \ue000 use",
        "...",
        "tab\tinside",
        "nel\x85start",
        "rtl \u202e override",
        "line\u2028separator",
        "a/b",
        " .. ",
        "",
    ],
)
def test_folder_names_follow_the_published_pattern(client_a, company_a, name):
    """A name matching the schema's pattern is stored trimmed; any other is a 400, nothing stored."""
    stated = client_a.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    allowed = re.search(stated["FolderRequest"]["properties"]["name"]["pattern"], name) is not None

    response = client_a.post(FOLDERS, {"name": name}, format="json")

    assert response.status_code == (201 if allowed else 400), response.content
    assert live_folder_names(company_a) == ([name.strip()] if allowed else [])


# Rename and move


def test_rename_and_move_to_the_top_level(client_a, client_b, company_a):
    """A renames a subfolder and moves it to the top level; B's identical PATCH is a 404."""
    contracts = FolderFactory(company=company_a, name="Contracts")
    year = FolderFactory(company=company_a, name="2025", parent=contracts)
    change = {"name": "Contracts 2025", "parent": None}

    refused = client_b.patch(f"{FOLDERS}/{year.pk}", change, format="json")
    assert refused.status_code == 404
    assert (stored(Folder, year.pk).name, stored(Folder, year.pk).parent_id) == ("2025", contracts.pk)

    response = client_a.patch(f"{FOLDERS}/{year.pk}", change, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["parent"]) == ("Contracts 2025", None)
    assert (stored(Folder, year.pk).name, stored(Folder, year.pk).parent_id) == ("Contracts 2025", None)


@pytest.mark.parametrize("target", ["itself", "child", "grandchild"])
def test_moving_a_folder_into_its_own_subtree_is_a_409(client_a, company_a, target):
    """A folder cannot become its own ancestor: the move conflicts with the tree, which stays unchanged."""
    top = FolderFactory(company=company_a, name="Top")
    child = FolderFactory(company=company_a, name="Child", parent=top)
    grandchild = FolderFactory(company=company_a, name="Grandchild", parent=child)
    destination = {"itself": top, "child": child, "grandchild": grandchild}[target]

    response = client_a.patch(f"{FOLDERS}/{top.pk}", {"parent": str(destination.pk)}, format="json")

    assert response.status_code == 409
    assert "cannot be moved into itself" in response.json()["detail"]
    assert stored(Folder, top.pk).parent_id is None
    assert stored(Folder, child.pk).parent_id == top.pk
    assert stored(Folder, grandchild.pk).parent_id == child.pk


def test_a_deleted_or_foreign_folder_is_no_parent(client_a, company_a, company_b):
    """A new folder under a deleted folder, or under company B's folder, is a 400 on parent."""
    deleted = FolderFactory(company=company_a, name="Old")
    with company_context(company_a):
        delete_folder(deleted)
    foreign = FolderFactory(company=company_b, name="Theirs")

    for parent in (deleted, foreign):
        response = client_a.post(FOLDERS, {"name": "New", "parent": str(parent.pk)}, format="json")
        assert response.status_code == 400
        assert "parent" in response.json()
    assert live_folder_names(company_a) == []


# Delete


def build_tree(company, *, breadth: int):
    """A three-level tree under a "Projects" folder, `breadth` folders a level, with a file in each."""
    root = FolderFactory(company=company, name="Projects")
    folders, level = [root], [root]
    for depth in range(2):
        level = [
            FolderFactory(company=company, name=f"L{depth}-{n}", parent=parent)
            for parent in level
            for n in range(breadth)
        ]
        folders += level
    files = [FileFactory(company=company, folder=folder) for folder in folders]
    return root, folders, files


def test_delete_soft_deletes_the_whole_subtree_and_nothing_else(client_a, client_b, company_a, company_b):
    """DELETE of a folder marks it, every folder below it and all their files deleted; rows are kept."""
    root, folders, files = build_tree(company_a, breadth=2)
    sibling = FolderFactory(company=company_a, name="Keep me")
    sibling_file = FileFactory(company=company_a, folder=sibling)
    top_file = FileFactory(company=company_a)
    _, b_folders, b_files = build_tree(company_b, breadth=1)

    refused = client_b.delete(f"{FOLDERS}/{root.pk}")
    assert refused.status_code == 404
    assert not any(stored(Folder, folder.pk).is_deleted for folder in folders)

    response = client_a.delete(f"{FOLDERS}/{root.pk}")

    assert response.status_code == 204
    assert all(stored(Folder, folder.pk).is_deleted for folder in folders)
    assert all(stored(File, file.pk).is_deleted for file in files)
    assert not stored(Folder, sibling.pk).is_deleted
    assert not stored(File, sibling_file.pk).is_deleted
    assert not stored(File, top_file.pk).is_deleted
    assert not any(stored(Folder, folder.pk).is_deleted for folder in b_folders)
    assert not any(stored(File, file.pk).is_deleted for file in b_files)
    assert names(client_a.get(FOLDERS)) == ["Keep me"]
    assert client_a.get("/api/files").json()["count"] == 2


def test_subtree_delete_takes_one_query_a_level_however_wide(company_a, company_b):
    """Deleting a wide tree costs as many queries as deleting a narrow one of the same depth."""
    narrow, *_ = build_tree(company_a, breadth=1)
    wide, wide_folders, _ = build_tree(company_b, breadth=4)

    with company_context(company_a), CaptureQueriesContext(connection) as narrow_queries:
        delete_folder(narrow)
    with company_context(company_b), CaptureQueriesContext(connection) as wide_queries:
        deleted = delete_folder(wide)

    assert (deleted.folders, deleted.files) == (len(wide_folders), len(wide_folders)) == (21, 21)
    assert len(wide_queries) == len(narrow_queries) <= 8


# Admin


def test_admin_pages_open_for_company_staff_and_super_admins(user_a, super_admin, company_a):
    """The folder changelist, add form and change form answer 200 for a company user and the platform."""
    folder = FolderFactory(company=company_a, name="Contracts")
    for user in (user_a, super_admin):
        client = browser(user)
        for url in (
            "/admin/files/folder/",
            "/admin/files/folder/add/",
            f"/admin/files/folder/{folder.pk}/change/",
        ):
            assert client.get(url).status_code == 200, (user, url)


def test_admin_refuses_a_duplicate_name_as_a_form_error(user_a, user_b, company_a, company_b):
    """A duplicate folder name in the admin is a form error for A, while B may use the name."""
    FolderFactory(company=company_a, name="Contracts")

    refused = browser(user_a).post("/admin/files/folder/add/", {"name": "contracts", "parent": ""})
    accepted = browser(user_b).post("/admin/files/folder/add/", {"name": "Contracts", "parent": ""})

    assert refused.status_code == 200
    assert "already exists" in refused.content.decode()
    assert live_folder_names(company_a) == ["Contracts"]
    assert accepted.status_code == 302
    assert live_folder_names(company_b) == ["Contracts"]


def test_admin_refuses_a_move_below_itself(user_a, company_a):
    """Moving a folder under its own child in the admin is a form error and changes nothing."""
    top = FolderFactory(company=company_a, name="Top")
    child = FolderFactory(company=company_a, name="Child", parent=top)

    response = browser(user_a).post(
        f"/admin/files/folder/{top.pk}/change/", {"name": "Top", "parent": str(child.pk)}
    )

    assert response.status_code == 200
    assert "cannot be moved into itself" in response.content.decode()
    assert stored(Folder, top.pk).parent_id is None


def test_admin_delete_soft_deletes_the_subtree(user_a, company_a, company_b):
    """Deleting a folder in the admin removes its subfolders and files too, and nothing of company B."""
    root, folders, files = build_tree(company_a, breadth=1)
    _, b_folders, _ = build_tree(company_b, breadth=1)

    response = browser(user_a).post(f"/admin/files/folder/{root.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert all(stored(Folder, folder.pk).is_deleted for folder in folders)
    assert all(stored(File, file.pk).is_deleted for file in files)
    assert not any(stored(Folder, folder.pk).is_deleted for folder in b_folders)


def test_super_admin_creates_a_folder_in_the_chosen_company(super_admin, company_a, company_b):
    """A super admin names the company; the folder's name is checked inside that company only."""
    FolderFactory(company=company_a, name="Contracts")

    response = browser(super_admin).post(
        "/admin/files/folder/add/", {"company": str(company_b.pk), "name": "Contracts", "parent": ""}
    )

    assert response.status_code == 302, response.content
    assert live_folder_names(company_a) == ["Contracts"]
    assert live_folder_names(company_b) == ["Contracts"]
