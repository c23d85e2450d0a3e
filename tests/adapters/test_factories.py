"""Adapters built from settings: a keeper's look-up reuses its thread's ECS client (the
WSDL is parsed once, the connection kept) until ECS's settings change."""

from __future__ import annotations

import threading

from django.test import override_settings

from penaltypay.adapters.factories import ecs_for_lookups


def test_look_ups_in_one_thread_share_a_client_that_has_parsed_the_wsdl_once(ecs, reduced_case):
    first = ecs_for_lookups()
    assert first.get_case("70000001", "AB12CDE").reference == "70000001"
    service = first._service
    again = ecs_for_lookups()
    assert again.get_case("70000001", "AB12CDE").reference == "70000001"
    assert again is first and again._service is service  # no second WSDL parse


def test_each_thread_has_its_own_client(ecs):
    clients = []
    with override_settings(ECS_URL=ecs.url):
        clients.append(ecs_for_lookups())
        thread = threading.Thread(target=lambda: clients.append(ecs_for_lookups()))
        thread.start()
        thread.join()
    assert clients[0] is not clients[1]


def test_a_changed_ecs_address_or_timeout_gets_a_new_client(ecs):
    with override_settings(ECS_URL=ecs.url, ECS_LOOKUP_TIMEOUT=2.0):
        first = ecs_for_lookups()
    with override_settings(ECS_URL=ecs.url + "/", ECS_LOOKUP_TIMEOUT=2.0):
        moved = ecs_for_lookups()
    with override_settings(ECS_URL=ecs.url + "/", ECS_LOOKUP_TIMEOUT=3.0):
        slower = ecs_for_lookups()
    assert moved is not first and moved.url == ecs.url + "/"
    assert slower is not moved and slower.timeout == 3.0
