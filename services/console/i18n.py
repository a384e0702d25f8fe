"""The console's two languages: its own words in Chinese and English, and money, dates and numbers
formatted for the locale by Babel (CLDR). Money keeps its currency's minor unit; a missing figure
shows as a dash, never as zero."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

from services.console.settings import Locale

LOCALES: tuple[Locale, ...] = ("zh-CN", "en")
BABEL = {"zh-CN": "zh_Hans_CN", "en": "en_GB"}
MISSING = "—"

# key: (Chinese, English)
WORDS: dict[str, tuple[str, str]] = {
    "app": ("Credo 信用管理", "Credo credit console"),
    "portfolio": ("组合概览", "Portfolio"),
    "customers": ("客户", "Customers"),
    "worklist": ("催收工作台", "Worklist"),
    "approvals": ("审批", "Approvals"),
    "alerts": ("预警", "Alerts"),
    "policy": ("政策", "Policy"),
    "sign_out": ("退出", "Sign out"),
    "language": ("语言", "Language"),
    "signed_in_as": ("当前用户", "Signed in as"),
    "roles": ("角色", "Roles"),
    "total_receivables": ("应收账款总额", "Total receivables"),
    "aging": ("账龄分析", "Aging"),
    "as_of": ("截至", "As of"),
    "known_on": ("记录截至", "As recorded on"),
    "current": ("未到期", "Current"),
    "kpi_trend": ("DSO / 最佳 DSO / ADD / CEI 趋势", "DSO / best possible DSO / ADD / CEI trend"),
    "dso_simple": ("DSO", "DSO"),
    "best_possible_dso": ("最佳 DSO", "Best DSO"),
    "add_dso": ("ADD", "ADD"),
    "cei_s_over_n": ("CEI %", "CEI %"),
    "kpi_variants": (
        "DSO 为简单法（期末应收 ÷ 期间赊销 × 天数）；ADD = DSO − 最佳 DSO；CEI 中赊销除以月数（S/N）；均为现时所知。",
        "DSO is the simple one (ending receivables ÷ credit sales × days); ADD = DSO − best DSO; CEI divides"
        " sales by the months (S/N); all as known now.",
    ),
    "days": ("天", "days"),
    "over_days": ("{} 天以上", "over {} days"),
    "month": ("月份", "Month"),
    "provision": ("坏账准备", "Bad-debt provision"),
    "no_provision": ("尚未计算坏账准备。", "No provision has been computed yet."),
    "expected_loss": ("预期信用损失", "Expected credit loss"),
    "band": ("账龄段", "Band"),
    "balance": ("余额", "Balance"),
    "loss_rate": ("损失率", "Loss rate"),
    "months": ("个月", "months"),
    "overlay": ("前瞻调整", "overlay"),
    "top_debtors": ("前十大欠款客户", "Top debtors"),
    "share_of_book": ("占比", "Share"),
    "concentration": ("前十大集中度", "Top-ten concentration"),
    "grades": ("信用等级分布", "Grade distribution"),
    "unrated": ("未评级", "not rated"),
    "limits": ("额度合计", "Limits"),
    "against_limits": ("敞口与额度", "Exposure against limits"),
    "with_limit": ("有额度的客户", "Customers with a limit"),
    "over_limit": ("超额度", "Over their limit (by)"),
    "near_limit": ("额度使用 ≥ 80%", "Using 80 % or more"),
    "without_limit": ("无额度但有敞口", "Exposed without a limit"),
    "open_alerts": ("未结预警", "Open alerts"),
    "live": ("实时", "live"),
    "cash_forecast": ("13 周回款预测", "13-week cash-in forecast"),
    "no_forecast": ("尚无付款预测。", "No payment prediction has run yet."),
    "week": ("周", "Week"),
    "predicted": ("预测", "Predicted"),
    "promised": ("承诺", "Promised"),
    "total": ("合计", "Total"),
    "customer": ("客户", "Customer"),
    "search": ("搜索", "Search"),
    "search_hint": ("名称或登记号（至少两个字）", "Name or registration number (two characters at least)"),
    "next_page": ("下一页", "Next page"),
    "first_page": ("第一页", "First page"),
    "status": ("状态", "Status"),
    "industry": ("行业", "Industry"),
    "registration": ("统一社会信用代码 / 登记号", "Registration"),
    "credit_file": ("信用档案", "Credit file"),
    "identity": ("基本信息", "Identity"),
    "address": ("地址", "Address"),
    "erp_id": ("ERP 编号", "ERP id"),
    "contacts": ("联系人", "Contacts"),
    "statements": ("财务报表", "Financial statements"),
    "bureau": ("征信报告", "Bureau reports"),
    "references": ("商业推荐", "Trade references"),
    "insurance": ("信用保险", "Credit insurance"),
    "none": ("无", "None"),
    "score": ("评分", "Score"),
    "grade": ("等级", "Grade"),
    "score_history": ("评分历史", "Score history"),
    "reasons": ("原因", "Reasons"),
    "limit": ("信用额度", "Credit limit"),
    "no_limit": ("未设额度", "No limit set"),
    "terms": ("付款条件", "Terms"),
    "credit_days": ("天", "days"),
    "holds": ("冻结", "Holds"),
    "recommended_limit": ("建议额度", "Recommended limit"),
    "exposure": ("风险敞口", "Exposure"),
    "overdue": ("逾期", "Overdue"),
    "open_items": ("未结发票", "Open items"),
    "invoice": ("发票", "Invoice"),
    "due_date": ("到期日", "Due date"),
    "days_past_due": ("逾期天数", "Days past due"),
    "open_amount": ("未结金额", "Open"),
    "movements": ("往来明细", "Movements"),
    "statements_of_account": ("对账单", "Statements of account"),
    "collection_case": ("催收案件", "Collection case"),
    "notices": ("催收通知", "Notices"),
    "promises": ("付款承诺", "Promises to pay"),
    "contacts_logged": ("联系记录", "Contacts"),
    "promise": ("付款承诺", "Promise to pay"),
    "plan": ("还款计划", "Payment plan"),
    "notice": ("催收通知", "Notice"),
    "source_profiles": ("信用档案", "Credit file"),
    "source_receivables": ("应收账款", "Ledger"),
    "source_scoring": ("信用评分", "Scoring"),
    "source_collections": ("催收", "Collections"),
    "source_alerts": ("预警", "Alerts"),
    "instalments": ("期", "instalments"),
    "plans": ("还款计划", "Payment plans"),
    "timeline": ("档案时间线", "Timeline"),
    "rank": ("排名", "Rank"),
    "priority": ("优先级", "Priority"),
    "everyone": ("全部客户", "All customers"),
    "mine": ("我负责的", "Mine"),
    "why": ("排名原因", "Why"),
    "oldest_days": ("最长逾期", "Oldest past due"),
    "last_contact": ("上次联系", "Last contact"),
    "next_action": ("下一步", "Next action"),
    "log_contact": ("记录联系", "Log a contact"),
    "channel": ("方式", "Channel"),
    "outcome": ("结果", "Outcome"),
    "note": ("备注", "Note"),
    "promise_amount": ("承诺金额", "Promised amount"),
    "promise_date": ("承诺付款日", "Promised date"),
    "dispute_invoice": ("争议发票", "Disputed invoice"),
    "dispute_amount": ("争议金额", "Disputed amount"),
    "save": ("保存", "Save"),
    "saved": ("已保存", "Saved"),
    "queue": ("待审批", "Waiting for approval"),
    "waiting_for": ("待审批层级", "Waiting for"),
    "requested_by": ("申请人", "Requested by"),
    "requested": ("申请", "Requested"),
    "reason": ("理由", "Reason"),
    "approve": ("批准 / 上报", "Approve or endorse"),
    "reject": ("拒绝", "Reject"),
    "calculation": ("计算过程", "Calculation"),
    "no_requests": ("没有待审批的申请。", "No request is waiting."),
    "severity": ("级别", "Severity"),
    "rule": ("规则", "Rule"),
    "raised_on": ("发生日", "Raised on"),
    "assignee": ("负责人", "Assignee"),
    "acknowledge": ("确认", "Acknowledge"),
    "assign": ("指派", "Assign"),
    "resolve": ("解决", "Resolve"),
    "facts": ("依据", "Facts"),
    "no_alerts": ("没有预警。", "No alert."),
    "scoring_policy": ("评分与额度政策", "Scoring and limit policy"),
    "dunning_policy": ("催收政策", "Dunning policy"),
    "alert_rules": ("预警规则", "Alert rules"),
    "version": ("版本", "Version"),
    "weights": ("权重", "Weights"),
    "grade_floors": ("等级下限", "Grade floors"),
    "authority": ("审批权限", "Approval authority"),
    "up_to": ("上限", "Up to"),
    "what_if": ("模拟", "What-if"),
    "before": ("现行", "In force"),
    "after": ("模拟", "What-if"),
    "from": ("自", "From"),
    "to": ("至", "To"),
    "run": ("运行", "Run"),
    "working": ("处理中…", "Working…"),
    "forbidden": ("无权操作", "Not allowed"),
    "refused": ("服务拒绝了此操作", "The service refused this"),
    "service_said": ("服务的说明：", "The service said:"),
    "unavailable": ("服务暂时不可用", "A service is unavailable"),
    "new_request": ("申请额度", "Request a limit"),
    "new_terms_request": ("申请付款条件", "Request terms"),
    "credit_days_field": ("信用期（天）", "Credit days"),
    "discount_percent": ("现金折扣（%）", "Cash discount (%)"),
    "discount_days": ("折扣期（天）", "Discount days"),
    "discount": ("现金折扣", "Discount"),
    "amount": ("金额", "Amount"),
    "kind": ("类型", "Kind"),
    "submit": ("提交", "Submit"),
    "file_as_of": ("查看某日档案", "The file as of a date"),
    "show": ("显示", "Show"),
    "signed_out": ("您已退出。", "You have signed out."),
    "sign_in": ("登录", "Sign in"),
    "not_found": ("未找到", "Not found"),
    "minimum_days_between_contacts": ("两次联系最少间隔天数", "Minimum days between contacts"),
    "notices_sent": ("通知数", "Notices"),
    "customers_contacted": ("联系客户数", "Customers contacted"),
    "alerts_count": ("预警数", "Alerts"),
    "recorded": ("已记录", "Recorded"),
    "level": ("级别", "Level"),
    "statement_issued": ("已发出，待确认", "issued, awaiting confirmation"),
    "statement_confirmed": ("客户已确认", "confirmed by the customer"),
    "statement_disputed": ("客户有异议", "disputed by the customer"),
    "agree_plan": ("约定还款计划", "Agree a payment plan"),
    "plan_invoices": ("发票号（逗号分隔）", "Invoice numbers (commas between)"),
    "plan_instalments": ("分期：每行一个“日期 金额”", 'Instalments: one "date amount" a line'),
    "grade_floor": ("等级下限", "Floor of grade"),
    "overdue_days": ("逾期预警天数", "Days overdue that raise an alert"),
}

CHOICES: dict[str, dict[str, tuple[str, str]]] = {
    # What a service's refusal means, by the kind its problem document names (its type's last part);
    # the service's own words follow it, as it said them.
    "problem": {
        "refused": ("业务规则不允许此操作", "The business rules do not allow this"),
        "forbidden": ("您的角色无权执行此操作", "Your role may not do this"),
        "unauthorized": ("登录已失效，请重新登录", "Your sign-in is no longer valid: sign in again"),
        "not-found": ("找不到所指的记录", "What this names does not exist"),
        "duplicate": ("该记录已存在于另一份档案中", "This is already recorded elsewhere"),
        "conflict": ("记录已被他人修改，请刷新后重试", "Someone changed this meanwhile: reload and try again"),
        "precondition-required": ("需要先读取当前版本再修改", "Read the current version before changing it"),
        "precondition-failed": (
            "记录已被他人修改，请刷新后重试",
            "Someone changed this meanwhile: reload and try again",
        ),
        "validation": ("填写的内容有误", "Something entered is not valid"),
        "invalid-date": ("日期不符合要求", "A date is not allowed"),
        "invalid-query": ("查询条件有误", "The query is not valid"),
        "invalid-currency": ("币种有误", "The currency is not valid"),
        "invalid-buckets": ("账龄区间有误", "The aging bands are not valid"),
        "invalid-cursor": (
            "分页位置已失效，请从第一页重新开始",
            "The page position expired: start from the first page",
        ),
        "invalid-policy": ("政策设置有误", "The policy is not valid"),
        "invalid-rules": ("预警规则有误", "The alert rules are not valid"),
        "invalid-template": ("通知模板有误", "The notice template is not valid"),
        "invalid-if-match": ("版本号有误", "The version given is not valid"),
        "invalid-idempotency-key": ("请求标识有误", "The request's key is not valid"),
        "idempotency-key-reused": ("同一请求标识已用于另一操作", "This request's key was used for another request"),
        "not-the-assignee": ("此预警已分配给他人", "This alert is assigned to someone else"),
        "not-enough-history": ("历史数据不足，无法计算", "There is not enough history to compute this"),
        "no-fx-rate": ("缺少所需的汇率", "An exchange rate it needs is missing"),
        "no-bureau-report": ("尚无征信报告", "There is no credit bureau report yet"),
        "bureau-unavailable": ("征信机构暂时无法访问", "The credit bureau cannot be reached"),
        "company-not-configured": (
            "尚未配置本公司信息，无法出具对账单",
            "The company's details are not set up for statements",
        ),
        "font-missing": ("缺少对账单所需的中文字体", "The font statements need is missing"),
        "unavailable": ("服务暂时不可用", "A service is unavailable"),
        "internal": ("服务内部错误，已记录", "The service failed; it has been logged"),
    },
    "channel": {
        "call": ("电话", "Call"),
        "email": ("邮件", "Email"),
        "visit": ("拜访", "Visit"),
        "letter": ("信函", "Letter"),
        "sms": ("短信", "SMS"),
    },
    "outcome": {
        "promises_to_pay": ("承诺付款", "Promises to pay"),
        "payment_sent": ("称已付款", "Says payment sent"),
        "disputes_it": ("提出争议", "Disputes it"),
        "invoice_not_received": ("未收到发票", "Invoice not received"),
        "voicemail": ("语音留言", "Voicemail"),
        "unreachable": ("联系不上", "Unreachable"),
        "refuses": ("拒绝付款", "Refuses"),
    },
    "file_event": {
        "CustomerRegistered": ("客户建档", "Customer registered"),
        "ProfileUpdated": ("档案更新", "Profile updated"),
        "ContactAdded": ("新增联系人", "Contact added"),
        "ContactChanged": ("联系人变更", "Contact changed"),
        "ContactRetired": ("联系人停用", "Contact retired"),
        "CustomerStatusChanged": ("客户状态变更", "Status changed"),
        "FinancialStatementRecorded": ("财务报表入档", "Financial statement recorded"),
        "ReviewDateSet": ("设定复核日期", "Review date set"),
        "CreditReviewDue": ("信用复核到期", "Credit review due"),
        "TradeReferenceRecorded": ("同业评价入档", "Trade reference recorded"),
        "InsuranceCoverRecorded": ("信用保险入档", "Insurance cover recorded"),
        "InsuranceCoverCancelled": ("信用保险取消", "Insurance cover cancelled"),
        "BureauReportRecorded": ("征信报告入档", "Bureau report recorded"),
    },
    "movement": {
        "invoice": ("发票", "Invoice"),
        "charge": ("催收费用", "Charge"),
        "adjustment": ("发票更正", "Invoice corrected"),
        "credit_note": ("贷项通知单", "Credit note"),
        "payment": ("收款", "Payment"),
        "discount": ("现金折扣", "Cash discount"),
        "discount_reversal": ("折扣冲回", "Discount withdrawn"),
        "payment_reversal": ("付款退回", "Payment returned"),
        "refund": ("退款", "Refund"),
        "recovery": ("核销后收回", "Recovery"),
        "write_off": ("核销", "Write-off"),
        "write_off_reinstated": ("核销恢复", "Write-off reinstated"),
    },
    "customer_status": {
        "active": ("正常", "active"),
        "on_hold": ("暂停", "on hold"),
        "closed": ("已关闭", "closed"),
    },
    "score_reason": {
        "payment_behaviour": ("付款表现", "payment behaviour"),
        "delinquency": ("逾期情况", "delinquency"),
        "financial_strength": ("财务实力", "financial strength"),
        "history": ("合作历史", "trading history"),
        "bureau": ("征信报告", "bureau report"),
    },
    "terms_source": {
        "set": ("已批准", "approved"),
        "default": ("按等级默认", "default for the grade"),
    },
    "role": {
        "credit_analyst": ("信用分析师", "credit analyst"),
        "credit_manager": ("信用经理", "credit manager"),
        "finance_director": ("财务总监", "finance director"),
        "collector": ("催收员", "collector"),
        "viewer": ("只读用户", "viewer"),
        "admin": ("管理员", "administrator"),
    },
    "request_kind": {
        "new": ("新增额度", "New limit"),
        "increase": ("提高额度", "Limit increase"),
        "decrease": ("降低额度", "Limit decrease"),
        "temporary": ("临时额度", "Temporary limit"),
        "terms": ("付款条件", "Terms"),
    },
    "case_status": {
        "dunning": ("催收中", "dunning"),
        "escalated": ("已移交", "escalated"),
    },
    "promise_outcome": {
        "open": ("待履行", "open"),
        "kept": ("已兑现", "kept"),
        "partially_kept": ("部分兑现", "partly kept"),
        "broken": ("已失信", "broken"),
        "reopened": ("重新待履行", "reopened"),
    },
    "plan_status": {
        "active": ("执行中", "active"),
        "completed": ("已完成", "completed"),
        "defaulted": ("已违约", "defaulted"),
    },
    "notice_status": {
        "pending": ("待发送", "pending"),
        "sent": ("已发送", "sent"),
        "failed": ("发送失败", "failed"),
    },
    "alert_status": {
        "raised": ("新预警", "raised"),
        "acknowledged": ("已确认", "acknowledged"),
        "assigned": ("已指派", "assigned"),
        "resolved": ("已解决", "resolved"),
        "suppressed": ("已忽略", "suppressed"),
        "open": ("未结", "open"),
        "closed": ("已结", "closed"),
        "all": ("全部", "all"),
    },
    "severity": {
        "critical": ("严重", "Critical"),
        "warning": ("警告", "Warning"),
        "info": ("提示", "Info"),
    },
    "part": {
        "age": ("逾期时长", "age"),
        "grade": ("信用等级", "grade"),
        "amount": ("逾期金额", "amount"),
        "contact": ("久未联系", "no recent contact"),
        "lateness": ("预测迟付", "predicted lateness"),
        "promises": ("失信承诺", "broken promises"),
        "limit_use": ("额度占用", "limit use"),
    },
}


def band(locale: Locale, name: str) -> str:
    """An aging band as receivables names it (current, 1-30, over 180), in words."""
    if name == "current":
        return word(locale, "current")
    if name.startswith("over "):
        return word(locale, "over_days").format(name.removeprefix("over "))
    return f"{name} {word(locale, 'days')}"


def word(locale: Locale, key: str) -> str:
    found = WORDS.get(key)
    if found is None:
        return key
    return found[0] if locale == "zh-CN" else found[1]


def choice(locale: Locale, group: str, key: str) -> str:
    found = CHOICES.get(group, {}).get(key)
    if found is None:
        return key.replace("_", " ")
    return found[0] if locale == "zh-CN" else found[1]


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(locale: Locale, amount: Any, currency: str | None = None) -> str:
    """An amount in its currency's minor unit, e.g. ¥1,388,934.32 / CN¥1,388,934.32; ``amount`` may
    be a {"amount", "currency"} object."""
    if isinstance(amount, dict):
        amount, currency = amount.get("amount"), amount.get("currency")
    value = _decimal(amount)
    if value is None or not currency:
        return MISSING
    return format_currency(value, currency, locale=BABEL[locale])


def number(locale: Locale, value: Any, places: int = 2) -> str:
    found = _decimal(value)
    if found is None:
        return MISSING
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_decimal(found, format=pattern, locale=BABEL[locale])


def percent(locale: Locale, value: Any, places: int = 1) -> str:
    """A figure given in percent (55.93 is 55.93 %)."""
    found = _decimal(value)
    if found is None:
        return MISSING
    pattern = "#,##0" + ("." + "0" * places if places else "") + "%"
    return format_percent(found / 100, format=pattern, locale=BABEL[locale])


def day(locale: Locale, value: Any) -> str:
    if value is None or value == "":
        return MISSING
    found = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return format_date(found, format="medium", locale=BABEL[locale])


def moment(locale: Locale, value: Any) -> str:
    if value is None or value == "":
        return MISSING
    found = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return format_datetime(found, format="medium", tzinfo=found.tzinfo, locale=BABEL[locale])


def helpers(locale: Locale) -> dict[str, Callable[..., str]]:
    """What a template formats with, bound to its locale."""
    return {
        "t": lambda key: word(locale, key),
        "c": lambda group, key: choice(locale, group, key),
        "band": lambda name: band(locale, name),
        "money": lambda amount, currency=None: money(locale, amount, currency),
        "num": lambda value, places=2: number(locale, value, places),
        "pct": lambda value, places=1: percent(locale, value, places),
        "day": lambda value: day(locale, value),
        "moment": lambda value: moment(locale, value),
    }
