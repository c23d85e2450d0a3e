"""The back office, mounted at /staff/ by penaltypay/urls.py. Every view here carries a
rule (penaltypay.staff.roles.requires or .public); tests/staff/test_permissions.py walks
this list and fails for a view without one."""

from django.urls import path

from penaltypay.staff import (
    account_views,
    audit_views,
    auth_views,
    dispute_views,
    exception_views,
    link_views,
    ops_views,
    phone_views,
    reconciliation_views,
    refund_views,
    report_views,
    self_views,
    views,
)

app_name = "staff"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in", auth_views.sign_in, name="sign-in"),
    path("sign-in/code", auth_views.code, name="sign-in-code"),
    path("sign-in/set-up-authenticator", link_views.set_up_authenticator, name="set-up-authenticator"),
    path("link/<str:token>", link_views.link, name="link"),
    path("me", self_views.my_account, name="my-account"),
    path("me/password", self_views.change_password, name="change-password"),
    path("sign-out", auth_views.sign_out, name="sign-out"),
    path("sign-out-everywhere", auth_views.sign_out_everywhere, name="sign-out-everywhere"),
    path("search", views.search_page, name="search"),
    path("cases/<str:reference>", views.case_page, name="case"),
    path("cases/<str:reference>/lift-pause", views.lift_pause, name="lift-pause"),
    path("cases/<str:reference>/stop-reminder", views.stop_reminder, name="stop-reminder"),
    path("payments/<str:reference>", views.payment_page, name="payment"),
    path("payments/<str:reference>/refund", refund_views.new_refund, name="refund-new"),
    path("disputes/<str:dispute_id>/evidence", dispute_views.dispute_evidence, name="dispute-evidence"),
    path("refunds/<str:reference>/decision", refund_views.decide_refund, name="refund-decision"),
    path("phone-payments", phone_views.phone_payment, name="phone-payment"),
    path("phone-payments/take", phone_views.take_phone_payment, name="phone-payment-take"),
    path("phone-payments/link", phone_views.send_payment_link, name="phone-payment-link"),
    path("phone-payments/return/<uuid:payment_id>", phone_views.phone_payment_return, name="phone-payment-return"),
    path("exceptions", exception_views.exceptions, name="exceptions"),
    path("exceptions/act", exception_views.act, name="exceptions-act"),
    path("reconciliation", reconciliation_views.runs, name="reconciliation"),
    path("reconciliation/<int:pk>", reconciliation_views.run, name="reconciliation-run"),
    path("reconciliation/<int:pk>.csv", reconciliation_views.run_csv, name="reconciliation-csv"),
    path("reports", report_views.reports, name="reports"),
    path("reports.csv", report_views.reports_csv, name="reports-csv"),
    path("feedback", report_views.feedback, name="feedback"),
    path("outbox", ops_views.outbox, name="outbox"),
    path("outbox/<int:event_id>", ops_views.outbox_exception, name="outbox-exception"),
    path("extract-imports", ops_views.extract_imports, name="extract-imports"),
    path("extract-imports/<int:pk>", ops_views.extract_import, name="extract-import"),
    path("extract-imports/<int:pk>/<str:kind>.csv", ops_views.extract_import_records, name="extract-import-records"),
    path("accounts", account_views.accounts, name="accounts"),
    path("accounts/new", account_views.new_account, name="account-new"),
    path("accounts/requests/<int:pk>", account_views.decide_request, name="account-request"),
    path("accounts/<str:username>", account_views.account, name="account"),
    path("audit", audit_views.audit_log, name="audit"),
    path("audit.csv", audit_views.audit_csv, name="audit-csv"),
]
