def test_conversation_list_answers_in_the_envelope(api, tenant):
    response = api.get("/api/v1/conversations")
    assert response.status_code == 200
    assert response.json == {"data": [], "meta": {"total": 0, "limit": 50, "offset": 0, "next_before": None}}
