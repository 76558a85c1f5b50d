// Writes edXML packages with the real national SDK (VNPT EdXML102), for tests/edxml/test_sdk_generated.py.
//
// Usage: java -Duser.timezone=Asia/Ho_Chi_Minh -cp <classes>:<sdk jars> GenEdxml <outdir>
// Writes <outdir>/<variant>.edxml for every variant, in one JVM run. A variant the SDK cannot
// build is reported on stderr as "FAILED <variant>: <exception>" (the Python test then fails,
// naming it). Nothing here is clever on purpose: each variant is what an integrator would write.

import com.vnpt.xml.base.Content;
import com.vnpt.xml.base.attachment.Attachment;
import com.vnpt.xml.base.builder.BaseXmlBuilder;
import com.vnpt.xml.base.header.Bussiness;
import com.vnpt.xml.base.header.BussinessDocumentInfo;
import com.vnpt.xml.base.header.Header;
import com.vnpt.xml.base.header.OrganIdList;
import com.vnpt.xml.base.header.Organization;
import com.vnpt.xml.base.header.Receiver;
import com.vnpt.xml.base.header.ReceiverList;
import com.vnpt.xml.base.header.ReplacementInfo;
import com.vnpt.xml.base.header.ReplacementInfoList;
import com.vnpt.xml.base.header.ResponseFor;
import com.vnpt.xml.base.header.ResponseForTask;
import com.vnpt.xml.base.header.SignerInfo;
import com.vnpt.xml.base.header.StaffInfo;
import com.vnpt.xml.base.header.TraceHeader;
import com.vnpt.xml.base.header.TraceHeaderList;
import com.vnpt.xml.ed.Ed;
import com.vnpt.xml.ed.builder.EdXmlBuilder;
import com.vnpt.xml.ed.header.Code;
import com.vnpt.xml.ed.header.DocumentType;
import com.vnpt.xml.ed.header.MessageHeader;
import com.vnpt.xml.ed.header.OtherInfo;
import com.vnpt.xml.ed.header.PromulgationInfo;
import com.vnpt.xml.status.Status;
import com.vnpt.xml.status.builder.StatusXmlBuilder;
import com.vnpt.xml.status.header.MessageStatus;
import java.io.File;
import java.io.FileOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Calendar;
import java.util.Date;
import java.util.GregorianCalendar;
import java.util.List;
import java.util.TimeZone;

public class GenEdxml {
    static final String G22 = "000.00.00.G22";
    static final String H41 = "000.00.00.H41";
    static final String H14 = "000.00.00.H14";
    static final String DOC_800 = G22 + ",2026/12/05,800/VPCP-TTĐT";
    static final String[] STATUS_CODES = {"01", "02", "03", "04", "05", "06", "13", "15", "16"};

    static File out;
    static File work;
    static int failures = 0;

    interface Variant {
        Content build() throws Exception;
    }

    static Date at(int y, int m, int d, int hh, int mm, int ss) {
        Calendar c = new GregorianCalendar(TimeZone.getTimeZone("Asia/Ho_Chi_Minh"));
        c.clear();
        c.set(y, m - 1, d, hh, mm, ss);
        return c.getTime();
    }

    static final Date DAY = at(2026, 12, 5, 0, 0, 0);
    static final Date MOMENT = at(2026, 12, 5, 9, 49, 8);

    static Organization organ(String id, String name) {
        return new Organization(id, name, name, "Hà Nội", "vt@gov.vn", "024", "024", "gov.vn");
    }

    static void write(String name, Variant v) {
        try {
            Content c = v.build();
            Files.move(c.getContent().toPath(), new File(out, name + ".edxml").toPath(),
                    StandardCopyOption.REPLACE_EXISTING);
        } catch (Throwable e) {
            failures++;
            System.err.println("FAILED " + name + ": " + e);
        }
    }

    static File attachmentFile() throws Exception {
        File f = new File(work, "tờ-trình.txt");
        try (FileOutputStream o = new FileOutputStream(f)) {
            o.write("Nội dung tệp đính kèm".getBytes(StandardCharsets.UTF_8));
        }
        return f;
    }

    /** A document header with the fields every variant shares (From, To, DocumentId). */
    static MessageHeader baseHeader(int number) {
        MessageHeader h = new MessageHeader();
        h.setFrom(organ(G22, "Văn phòng Chính phủ"));
        h.addTo(organ(H41, "UBND Tỉnh Nghệ An"));
        h.addTo(organ(H14, "UBND Tỉnh Cao Bằng"));
        h.setDocumentId(G22 + ",2026/12/05," + number + "/VPCP-TTĐT");
        return h;
    }

    /** Every optional field the SDK offers, set. */
    static MessageHeader fullHeader(int number) {
        MessageHeader h = baseHeader(number);
        h.setCode(new Code(String.valueOf(number), "VPCP-TTĐT"));
        h.setPromulgationInfo(new PromulgationInfo("Hà Nội", DAY));
        h.setDocumentType(new DocumentType(1, 0, "Công văn"));
        h.setSubject("V/v kết nối, liên thông phần mềm quản lý văn bản");
        h.setContent("Nội dung trích yếu");
        h.setSignerInfo(new SignerInfo("TL. BỘ TRƯỞNG", "Cục trưởng", "Nguyễn Văn A"));
        h.setDueDate(at(2026, 12, 31, 0, 0, 0));
        h.addToPlace("Các bộ, cơ quan ngang bộ");
        h.addToPlace("UBND các tỉnh, thành phố");
        OtherInfo oi = new OtherInfo(1, "Liên thông văn bản quốc gia", "TVC", 2, 3);
        oi.setDirection(true);
        oi.setAppendixes(new ArrayList<>(Arrays.asList("Phụ lục 1", "Phụ lục 2")));
        oi.setReplyFors("700/VPCP-TTĐT");
        oi.setReferenceCodes("701/VPCP-TTĐT;702/VPCP-TTĐT");
        h.setOtherInfo(oi);
        h.setSteeringType(1);
        h.setApplicationType("1");
        h.addResponseFor(new ResponseFor(H41, "650/UBND-VP", DAY, H41 + ",2026/12/05,650/UBND-VP"));
        h.setResponseForTask(new ResponseForTask(new ArrayList<>(Arrays.asList("CV-2026-001", "CV-2026-002"))));
        return h;
    }

    static StaffInfo staff(boolean ids) {
        StaffInfo s = new StaffInfo("Văn thư văn phòng", "Nguyễn Thị B");
        if (ids) {
            s.setDepartmentId("VT01");
            s.setStaffId("NV042");
            s.setEmail("nguyenthib@gov.vn");
            s.setMobile("0912345678");
        }
        return s;
    }

    static TraceHeaderList traces(Bussiness b, boolean attributes) {
        TraceHeaderList t = new TraceHeaderList();
        if (attributes) {
            t.setId("trace-1");
            t.setVersion("1.0");
        }
        t.addTraceHeader(new TraceHeader(G22, MOMENT));
        if (b != null) t.setBussiness(b);
        return t;
    }

    // Bussiness(documentId, bussinessDocType, bussinessDocReason, paper), as the SDK orders them.
    static Content document(MessageHeader h, TraceHeaderList t, boolean attachment) throws Exception {
        Ed ed = new Ed(new Header(h, t), new ArrayList<Attachment>());
        if (attachment) {
            ed.addAttachment(new Attachment("cid:1", "tờ-trình.txt", "Tờ trình", attachmentFile()));
        }
        return EdXmlBuilder.build(ed, work.getPath());
    }

    static Content statusPackage(String code, boolean withStaff, boolean staffIds) throws Exception {
        MessageStatus m = new MessageStatus();
        m.setFrom(organ(H41, "UBND Tỉnh Nghệ An"));
        m.setResponseFor(new ResponseFor(G22, "800/VPCP-TTĐT", DAY, DOC_800));
        if (withStaff) m.setStaffInfo(staff(staffIds));
        m.setStatusCode(code);
        m.setDescription("Trạng thái " + code);
        m.setTimestamp(MOMENT);
        return StatusXmlBuilder.build(new Status(new Header(m)), work.getPath());
    }

    public static void main(String[] args) throws Exception {
        out = new File(args[0]);
        out.mkdirs();
        work = Files.createTempDirectory("genedxml").toFile();

        // New documents (BussinessDocType 0).
        write("doc_full", () -> {
            Bussiness b = new Bussiness(null, "0", "Văn bản điện tử mới", "1");
            b.addStaffInfo(staff(true));
            return document(fullHeader(800), traces(b, true), true);
        });
        write("doc_full_no_bussiness", () -> document(fullHeader(801), traces(null, false), true));
        write("doc_minimal", () -> document(baseHeader(802), traces(null, false), false));
        write("doc_optional_null", () -> {
            // Objects present, their optional strings left null (the SDK drops null strings).
            MessageHeader h = baseHeader(803);
            h.setCode(new Code("803", null));
            h.setPromulgationInfo(new PromulgationInfo(null, DAY));
            h.setDocumentType(new DocumentType(1, null));
            h.setSubject("Trích yếu");
            h.setSignerInfo(new SignerInfo(null, null, null));
            h.setOtherInfo(new OtherInfo());
            h.addResponseFor(new ResponseFor());
            h.setResponseForTask(new ResponseForTask());
            Bussiness b = new Bussiness(null, "0", null, null);
            b.addStaffInfo(new StaffInfo());
            return document(h, traces(b, false), false);
        });
        write("doc_optional_empty", () -> {
            // Optional strings set to "" (what a form with blank fields produces).
            MessageHeader h = baseHeader(804);
            h.setCode(new Code("804", ""));
            h.setPromulgationInfo(new PromulgationInfo("", DAY));
            h.setDocumentType(new DocumentType(1, 0, ""));
            h.setSubject("");
            h.setContent("");
            h.setSignerInfo(new SignerInfo("", "", ""));
            h.addToPlace("");
            OtherInfo oi = new OtherInfo(0, "", "", 0, 0);
            oi.setReplyFors("");
            oi.setReferenceCodes("");
            h.setOtherInfo(oi);
            h.setApplicationType("");
            h.addResponseFor(new ResponseFor("", "", null, ""));
            Bussiness b = new Bussiness("", "0", "", "");
            b.addStaffInfo(new StaffInfo("", "", "", "", "", ""));
            return document(h, traces(b, true), false);
        });

        // Update (2): what changes and for whom.
        write("update_2", () -> {
            Bussiness b = new Bussiness(DOC_800, "2", "Cập nhật thông tin văn bản", "0");
            BussinessDocumentInfo info = new BussinessDocumentInfo();
            info.setdocumentInfo("1");
            info.setdocumentReceiver("1");
            ReceiverList rl = new ReceiverList();
            rl.addReceiver(new Receiver(H41, "1"));
            rl.addReceiver(new Receiver(H14, "2"));
            info.addreceiverList(rl);
            b.addBussinessDocumentInfo(info);
            b.addStaffInfo(staff(true));
            return document(fullHeader(805), traces(b, false), true);
        });

        // Replacement (3): the replaced document and the agencies it had gone to.
        write("replacement_3", () -> {
            Bussiness b = new Bussiness(null, "3", "Văn bản thay thế", "0");
            ReplacementInfoList list = new ReplacementInfoList();
            OrganIdList organs = new OrganIdList();
            organs.addOrganId(H41);
            organs.addOrganId(H14);
            list.addReplacementInfo(new ReplacementInfo(DOC_800, organs));
            b.addReplacementInfoList(list);
            b.addStaffInfo(staff(false));
            return document(fullHeader(806), traces(b, false), true);
        });

        // Revocation (1): names the revoked document once per recipient, as the SDK's example does.
        write("revocation_1", () -> {
            MessageHeader h = fullHeader(807);
            List<ResponseFor> rfs = new ArrayList<>();
            rfs.add(new ResponseFor(H41, "800/VPCP-TTĐT", DAY, DOC_800));
            rfs.add(new ResponseFor(H14, "800/VPCP-TTĐT", DAY, DOC_800));
            h.setResponseFor(rfs);
            h.setResponseForTask(null);
            Bussiness b = new Bussiness(null, "1", "Thu hồi văn bản", "0");
            b.addStaffInfo(staff(true));
            return document(h, traces(b, false), false);
        });

        // Status packages: every code, with StaffInfo carrying DepartmentId/StaffId, with a
        // plain StaffInfo, and without StaffInfo.
        for (String code : STATUS_CODES) {
            write("status_" + code + "_staff_ids", () -> statusPackage(code, true, true));
            write("status_" + code + "_staff", () -> statusPackage(code, true, false));
            write("status_" + code + "_no_staff", () -> statusPackage(code, false, false));
        }
        System.exit(failures == 0 ? 0 : 1);
    }
}
