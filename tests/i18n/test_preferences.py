"""Whose language and zone a person sees (i18n.resolve_locale): pure rules, one case each."""

from i18n import resolve_locale


def test_staff_who_chose_nothing_follow_the_browser() -> None:
    c = resolve_locale(user_language="en", user_timezone="UTC")
    assert (c.language, c.timezone) == (None, None)


def test_an_administrators_setting_counts_for_staff() -> None:
    c = resolve_locale(user_language="zh-CN", user_timezone="Asia/Shanghai")
    assert (c.language, c.timezone) == ("zh-CN", "Asia/Shanghai")


def test_customer_and_technician_accounts_follow_their_record() -> None:
    c = resolve_locale(user_language="en", user_timezone="UTC", linked_language="zh-CN",
                       linked_timezone="Asia/Urumqi")
    assert (c.language, c.timezone) == ("zh-CN", "Asia/Urumqi")


def test_a_choice_wins_for_what_was_chosen_only() -> None:
    c = resolve_locale(user_language="en", user_timezone="UTC", language_chosen=True, linked_language="zh-CN",
                       linked_timezone="Asia/Urumqi")
    assert (c.language, c.timezone) == ("en", "Asia/Urumqi")
    c = resolve_locale(user_language="en", user_timezone="UTC", timezone_chosen=True)
    assert (c.language, c.timezone) == (None, "UTC")  # UTC chosen on purpose is UTC, not "unset"
