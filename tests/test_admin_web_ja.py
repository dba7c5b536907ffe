"""The admin page speaks the staff's language (issue 13 §5): the roster table with Japanese
headers and values, organisation types in words in the teams."""

from __future__ import annotations

import re

from tests.test_admin_web import SESSION, client, csrf_of, registered, sign_in  # noqa: F401


async def test_roster_table_in_japanese(client):  # noqa: F811
    await sign_in(client)
    html = await (await client.get(f"/admin/sessions/{SESSION}")).text()
    head = re.search(r'<table id="roster">\s*<thead><tr>(.*?)</tr>', html, re.S)
    assert head is not None
    assert re.findall(r"<th>(.*?)</th>", head.group(1)) == [
        "開催回",
        "チーム",
        "氏名",
        "所属",
        "区分",
        "部署",
        "都道府県",
        "メール",
        "受講料",
        "申込日時",
        "状態",
        "チームの例外",
    ]
    body = html[head.end() :]
    for value in ("<td>地方公共団体</td>", "<td>無料</td>", "<td>登録済</td>", "<td>2024-06-01 10:00</td>"):
        assert value in body
    assert "<td>local</td>" not in body and "<td>free</td>" not in body


async def test_teams_show_organisation_types_in_words(client):  # noqa: F811
    await sign_in(client)
    html = await (await client.get(f"/admin/sessions/{SESSION}")).text()
    await client.post(f"/admin/sessions/{SESSION}/teams", data={"csrf": csrf_of(html)})
    html = await (await client.get(f"/admin/sessions/{SESSION}")).text()
    teams = html[html.index('id="teams"') : html.index('id="move"')]
    assert "川崎市, 地方公共団体" in teams and ", local" not in teams
