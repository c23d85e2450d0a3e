from django.urls import path

from penaltypay.citizen import basket_views, info, link_views, performance_views, receipt_views, reminder_views, views

app_name = "citizen"

urlpatterns = [
    path("", views.start, name="start"),
    path("find-your-penalty", views.find_penalty, name="find"),
    path("your-penalty", views.penalty, name="penalty"),
    path("pay", views.pay_now, name="pay"),
    path("your-penalty/reminder", reminder_views.ask, name="reminder"),
    path("your-penalty/reminder/set", reminder_views.set_, name="reminder-set"),
    path("reminders/stop/<str:token>", reminder_views.stop, name="reminder-stop"),
    path("your-penalties/add", basket_views.add, name="basket-add"),
    path("your-penalties", basket_views.basket, name="basket"),
    path("your-penalties/pay", basket_views.pay, name="basket-pay"),
    path("your-penalties/reminder", reminder_views.ask_for_basket, name="basket-reminder"),
    path("pay/return/<str:payment_id>", views.payment_return, name="payment-return"),
    path("pay/complete/<str:payment_id>", views.payment_complete, name="payment-complete"),
    path("pay/receipt/<str:payment_id>", receipt_views.receipt_for_this_browser, name="receipt"),
    path("receipt/<str:token>", receipt_views.receipt_from_email, name="receipt-link"),
    path("start-again", views.start_again, name="start-again"),
    path("pay-link/<str:token>", link_views.payment_link, name="payment-link"),
    path("feedback", views.feedback, name="feedback"),
    path("accessibility-statement", info.accessibility, name="accessibility"),
    path("privacy", info.privacy, name="privacy"),
    path("cookies", info.cookies, name="cookies"),
    path("help", info.help_and_contact, name="help"),
    path("performance", performance_views.page, name="performance"),
    path("performance.csv", performance_views.as_csv, name="performance-csv"),
    path("performance.json", performance_views.as_json, name="performance-json"),
]
