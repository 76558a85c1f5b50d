"""Vietnamese and English texts of the dashboard (Vietnamese first: it is the operators' own).

Chosen per browser with the ``hub_lang`` cookie (``/dashboard/lang/vi`` or ``/en``); the
default is Vietnamese. Texts are plain strings, escaped when rendered; pages are UTF-8 and
declare ``lang`` so that screen readers and fonts treat the diacritics right.
"""

from __future__ import annotations

LANGUAGES = ("vi", "en")
DEFAULT = "vi"

_T: dict[str, tuple[str, str]] = {
    # key: (vi, en)
    "title": ("Bảng điều phối trục liên thông", "Exchange hub routing dashboard"),
    "overview": ("Tổng quan", "Overview"),
    "agencies": ("Cơ quan", "Agencies"),
    "packages": ("Gói tin", "Packages"),
    "stuck": ("Tồn đọng và quá hạn", "Stuck and overdue"),
    "dead": ("Thư chết", "Dead letters"),
    "audit": ("Nhật ký thao tác", "Audit"),
    "logout": ("Đăng xuất", "Log out"),
    "login": ("Đăng nhập", "Log in"),
    "username": ("Tên đăng nhập", "Username"),
    "password": ("Mật khẩu", "Password"),
    "login_failed": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong username or password."),
    "login_throttled": (
        "Quá nhiều lần đăng nhập sai; thử lại sau {s} giây.",
        "Too many failed logins; try again in {s} seconds.",
    ),
    "packages_stored": ("Gói tin đã lưu", "Packages stored"),
    "throughput": ("Lưu lượng tiếp nhận (gói/phút, 60 phút)", "Accepted (packages/min, 60 min)"),
    "refusals": ("Tỷ lệ từ chối (gói/phút)", "Refusals (packages/min)"),
    "refusal_rate": ("Tỷ lệ từ chối", "Refusal rate"),
    "queue_depth": ("Hàng đợi theo cơ quan", "Queue depth per agency"),
    "dead_letters": ("Thư chết", "Dead letters"),
    "open_alarms": ("Cảnh báo đang mở", "Open alarms"),
    "alarms_none": ("Cảnh báo: chưa cấu hình", "Alarms: none configured"),
    "health": ("Tình trạng trục", "Hub health"),
    "store": ("Kho lưu trữ", "Store"),
    "broker": ("Hàng đợi", "Broker"),
    "signing_cert": ("Chứng thư ký biên nhận", "Receipt signing certificate"),
    "expires_in": ("hết hạn sau {d} ngày", "expires in {d} days"),
    "ok": ("tốt", "ok"),
    "failed": ("lỗi", "failed"),
    "state": ("Trạng thái", "State"),
    "count": ("Số lượng", "Count"),
    "agency": ("Cơ quan", "Agency"),
    "stands_for": ("thay cho", "for"),  # a delivery to a province for its sub-units (issue 10)
    "name": ("Tên", "Name"),
    "health_col": ("Tình trạng", "Health"),
    "last_seen": ("Lần cuối hoạt động", "Last seen"),
    "backlog": ("Tồn chờ gửi", "Backlog"),
    "oldest_undelivered": ("Gói chưa gửi cũ nhất", "Oldest undelivered"),
    "unacked": ("Chưa xác nhận", "Unacknowledged"),
    "cert_expiry": ("Chứng thư số hết hạn", "Certificate expiry"),
    "signature_profile": ("Chuẩn chữ ký số", "Signature profile"),
    "profile_strict": ("chặt chẽ", "strict"),
    "profile_legacy": ("chuẩn cũ (C14N 1.0, RSA-SHA1)", "legacy (C14N 1.0, RSA-SHA1)"),
    "latest_legacy": ("gói gần nhất ký theo chuẩn cũ", "latest package signed legacy"),
    "enabled": ("đang hoạt động", "enabled"),
    "disabled": ("đã tạm dừng", "disabled"),
    "disable": ("Tạm dừng", "Disable"),
    "enable": ("Kích hoạt", "Enable"),
    "reason": ("Lý do", "Reason"),
    "search": ("Tìm kiếm", "Search"),
    "document_id": ("Số/ký hiệu (DocumentId) hoặc Mã hồ sơ", "DocumentId or MaHoSo"),
    "subject": ("Trích yếu", "Subject"),
    "subject_hint": (
        "Các từ trong trích yếu, có dấu hoặc không dấu",
        "Words of the Subject, with or without diacritics",
    ),
    "subject_encrypted": ("(đã mã hóa)", "(encrypted)"),
    "organ_id": ("Mã định danh cơ quan", "OrganId"),
    "role_any": ("gửi hoặc nhận", "from or to"),
    "role_from": ("gửi", "from"),
    "role_to": ("nhận", "to"),
    "since": ("Từ ngày", "From"),
    "until": ("Đến ngày", "Until"),
    "kind": ("Loại", "Kind"),
    "any": ("tất cả", "any"),
    "accepted_at": ("Tiếp nhận lúc", "Accepted at"),
    "sender": ("Nơi gửi", "From"),
    "recipients": ("Nơi nhận", "To"),
    "next_page": ("Trang sau →", "Next page →"),
    "no_rows": ("Không có dữ liệu.", "Nothing here."),
    "trace": ("Dòng thời gian", "Trace"),
    "verification": ("Kết quả xác thực chữ ký", "Signature verification"),
    "verified_by": ("Hợp lệ, người ký", "Valid, signed by"),
    "envelope_unsigned": (
        "Không có chữ ký số (chấp nhận theo chính sách của cơ quan gửi)",
        "Not signed (accepted by the sender's envelope_signature policy)",
    ),
    "fingerprint": ("Dấu vân tay chứng thư", "Certificate fingerprint"),
    "warnings": ("Cảnh báo", "Warnings"),
    "deliveries": ("Chuyển phát theo nơi nhận", "Deliveries per recipient"),
    "attempts": ("Số lần thử", "Attempts"),
    "updated_at": ("Cập nhật", "Updated"),
    "last_error": ("Lỗi gần nhất", "Last error"),
    "status_packages": ("Gói trạng thái phản hồi", "Status packages"),
    "download_original": ("Tải bản gốc (đã ký)", "Download the original (signed)"),
    "download_receipt": ("Tải biên nhận", "Download the receipt"),
    "unaccepted_dossiers": ("Hồ sơ chưa được tiếp nhận", "Dossiers not accepted"),
    "overdue_dossiers": ("Hồ sơ quá hạn", "Overdue dossiers"),
    "overdue_none": (
        "Chưa cấu hình: hạn xử lý do mô-đun vòng đời hồ sơ cung cấp.",
        "Not configured: due dates come from the dossier lifecycle module.",
    ),
    "unacked_documents": ("Văn bản chưa xác nhận", "Unacknowledged documents"),
    "age": ("Tuổi", "Age"),
    "resend": ("Gửi lại", "Re-send"),
    "discard": ("Bỏ qua", "Discard"),
    "selected": ("mục đã chọn", "selected"),
    "done_resend": ("Đã gửi lại {n} mục.", "Re-sent {n}."),
    "done_discard": ("Đã bỏ qua {n} mục.", "Discarded {n}."),
    "done_agency": ("Đã cập nhật cơ quan {o}.", "Agency {o} updated."),
    # the agency directory (issue 11)
    "directory": ("Danh bạ", "Directory"),
    "dir_intro": (
        "Cơ quan kết nối (agencies.toml) và cơ quan trong danh bạ (nhập bằng "
        "hub agency import, chưa kết nối). Nhập danh bạ không kết nối cơ quan nào: văn bản "
        "gửi đơn vị trực thuộc vẫn chuyển đến cơ quan cấp trên gần nhất đã kết nối.",
        "Connected agencies (agencies.toml) and directory entries (imported with hub agency "
        "import, not connected). Importing connects nobody: documents to a unit still go to "
        "its nearest connected ancestor.",
    ),
    "dir_q_hint": ("Các từ trong tên, có dấu hoặc không dấu", "Words of the name, any accents"),
    "dir_level": ("Cấp", "Level"),
    "dir_parent": ("Cơ quan cấp trên", "Parent"),
    "dir_kind": ("Loại", "Kind"),
    "dir_connected": ("đã kết nối", "connected"),
    "dir_entry": ("danh bạ", "directory entry"),
    "dir_receives": ("Nhận văn bản", "Receives"),
    "dir_itself": ("trực tiếp", "itself"),
    "dir_through": ("qua {o}", "through {o}"),
    "dir_unreachable": ("chưa nhận được (từ chối)", "not reachable (refused)"),
    "dir_old_code": ("Mã cũ", "Old code"),
    "forbidden_role": (
        "Vai trò 'viewer' chỉ được xem; cần vai trò 'operator'.",
        "The viewer role may only look; this needs the operator role.",
    ),
    "who": ("Người thực hiện", "Who"),
    "what": ("Thao tác", "What"),
    "target": ("Đối tượng", "Target"),
    "when": ("Thời điểm", "When"),
    "detail": ("Chi tiết", "Detail"),
    "live": ("trực tiếp", "live"),
    "never": ("chưa bao giờ", "never"),
    "role": ("Vai trò", "Role"),
    "language": ("Tiếng Việt · English", "Tiếng Việt · English"),
}


def t(lang: str, key: str, **kw: object) -> str:
    """The text for ``key`` in ``lang`` (English if the language is unknown)."""
    vi, en = _T[key]
    text = vi if lang == "vi" else en
    return text.format(**kw) if kw else text


def catalogue(lang: str) -> dict[str, str]:
    """Every text in ``lang`` (for the browser script)."""
    return {k: t(lang, k) for k in _T}


def age_text(seconds: float, lang: str) -> str:
    """A short age: 45 s, 12 min, 3 h 5 min, 2 d 4 h (ngày/giờ/phút in Vietnamese)."""
    s = max(0, int(seconds))
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    units = ("ngày", "giờ", "phút", "giây") if lang == "vi" else ("d", "h", "min", "s")
    if d:
        return f"{d} {units[0]} {h} {units[1]}"
    if h:
        return f"{h} {units[1]} {m} {units[2]}"
    if m:
        return f"{m} {units[2]}"
    return f"{sec} {units[3]}"
