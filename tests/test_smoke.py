from crm.access.roles import Role
from tests.helpers import login


def test_login_page_is_chinese_by_default(client):
    page = client.get("/auth/login").get_data(as_text=True)
    assert 'lang="zh-CN"' in page


def test_rep_signs_in_and_lands_home(client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    response = login(client, rep)
    assert response.status_code == 302
    assert client.get("/").status_code == 200
