// A scripted client of the national axis's real Java SDK (SDKVXP 2.0.1), for the hub's tests.
//
//   java -cp '<dir>:../shared/vxp-sdk/lib/*' VxpScenario ENDPOINT OUT_FILE STEP...
//
// STEP is "as|SYSTEM_ID|SECRET|STORE_DIR" (new SDK service objects for that identity, reused by
// the following steps exactly as an agency's system reuses them) or "[NAME=]OP|JSON[|EXTRA]"
// with OP one of send, received, wait, sent, get, download, download2, update, countEdoc,
// countStatus, agencies, qd20, sync, register, delete. "wait|JSON|N" polls getReceivedEdocList
// until it lists N documents (what a re-polling system does). NAME keeps the step's docId (send:
// DocId; received/wait: the first item's docId) for "${NAME}" in later steps' JSON. Each step
// appends one JSON line to OUT_FILE (the SDK prints its own traffic on stdout).

import com.google.gson.Gson;
import com.vpcp.services.AgencyServiceImp;
import com.vpcp.services.KnobstickServiceImp;
import com.vpcp.services.VnptProperties;
import com.vpcp.services.model.Agency;
import com.vpcp.services.model.BasicResult;
import com.vpcp.services.model.CountReceiveEdoc;
import com.vpcp.services.model.GetAgenciesResult;
import com.vpcp.services.model.GetEdocResult;
import com.vpcp.services.model.GetReceivedEdocResult;
import com.vpcp.services.model.GetSendEdocResult;
import com.vpcp.services.model.GetSynchronizeUnit;
import com.vpcp.services.model.Knobstick;
import com.vpcp.services.model.SendEdocResult;
import com.vpcp.services.model.StatusResult;
import java.io.FileOutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class VxpScenario {
    private static String hex(byte[] digest) {
        StringBuilder sb = new StringBuilder();
        for (byte b : digest) sb.append(String.format("%02x", b));
        return sb.toString();
    }

    private static void basic(Map<String, Object> out, BasicResult r) {
        if (r == null) {
            out.put("null", true);
            return;
        }
        out.put("status", r.getStatus());
        out.put("errorCode", r.getErrorCode());
        out.put("errorDesc", r.getErrorDesc());
    }

    public static void main(String[] args) throws Exception {
        String endpoint = args[0];
        Gson gson = new Gson();
        KnobstickServiceImp docs = null;
        AgencyServiceImp dir = null;
        Map<String, String> vars = new LinkedHashMap<>();
        try (Writer w = new OutputStreamWriter(new FileOutputStream(args[1]), StandardCharsets.UTF_8)) {
            for (int i = 2; i < args.length; i++) {
                String[] step = args[i].split("\\|", -1);
                for (int j = 1; j < step.length; j++) {
                    for (Map.Entry<String, String> v : vars.entrySet()) {
                        step[j] = step[j].replace("${" + v.getKey() + "}", v.getValue());
                    }
                }
                Map<String, Object> out = new LinkedHashMap<>();
                String name = null;
                String op = step[0];
                if (op.contains("=")) {
                    name = op.substring(0, op.indexOf('='));
                    op = op.substring(op.indexOf('=') + 1);
                    out.put("name", name);
                }
                out.put("step", op);
                String json = step.length > 1 ? step[1] : "{}";
                String keep = null;
                if (op.equals("as")) {
                    VnptProperties props = new VnptProperties(endpoint, step[1], step[2], step[3], 4, 2);
                    docs = new KnobstickServiceImp(props);
                    dir = new AgencyServiceImp(props);
                } else if (op.equals("send")) {
                    SendEdocResult r = docs.sendEdoc(json, step[2]);
                    basic(out, r);
                    if (r != null) out.put("docId", r.getDocID());
                    if (r != null) keep = r.getDocID();
                } else if (op.equals("received") || op.equals("wait")) {
                    GetReceivedEdocResult r = docs.getReceivedEdocList(json);
                    if (op.equals("wait")) {
                        int want = Integer.parseInt(step[2]);
                        long until = System.currentTimeMillis() + 30000;
                        while ((r == null || r.getKnobsticks() == null || r.getKnobsticks().size() < want)
                                && System.currentTimeMillis() < until) {
                            Thread.sleep(100);
                            r = docs.getReceivedEdocList(json);
                        }
                    }
                    basic(out, r);
                    List<Map<String, Object>> items = new ArrayList<>();
                    if (r != null && r.getKnobsticks() != null) {
                        for (Knobstick k : r.getKnobsticks()) {
                            Map<String, Object> m = new LinkedHashMap<>();
                            m.put("docId", k.getId());
                            m.put("from", k.getFrom());
                            m.put("to", k.getTo());
                            m.put("messageType", k.getMessageType());
                            m.put("status", k.getStatus());
                            items.add(m);
                        }
                    }
                    out.put("items", items);
                    if (!items.isEmpty()) keep = (String) items.get(0).get("docId");
                } else if (op.equals("sent")) {
                    GetSendEdocResult r = docs.getSentEdocList(json);
                    basic(out, r);
                    List<Map<String, Object>> items = new ArrayList<>();
                    if (r != null && r.getStatusResult() != null) {
                        for (StatusResult s : r.getStatusResult()) {
                            Map<String, Object> m = new LinkedHashMap<>();
                            m.put("senderDocId", s.getSenderDocId());
                            m.put("receiverDocId", s.getReceiverDocId());
                            m.put("toCode", s.getToCode());
                            m.put("receiveStatus", s.getReceiveStatus());
                            items.add(m);
                        }
                    }
                    out.put("items", items);
                } else if (op.equals("get") || op.equals("download") || op.equals("download2")) {
                    GetEdocResult r = op.equals("get") ? docs.getEdoc(json)
                            : op.equals("download") ? docs.downloadEdoc(json) : docs.downloadEdoc2(json);
                    basic(out, r);
                    if (r != null && r.getData() != null) {
                        out.put("dataSha256", hex(MessageDigest.getInstance("SHA-256")
                                .digest(r.getData().getBytes(StandardCharsets.UTF_8))));
                    }
                    if (r != null && r.getFilePath() != null) {
                        out.put("filePath", r.getFilePath());
                        if (Files.exists(Paths.get(r.getFilePath()))) {
                            out.put("fileSha256", hex(MessageDigest.getInstance("SHA-256")
                                    .digest(Files.readAllBytes(Paths.get(r.getFilePath())))));
                        }
                    }
                } else if (op.equals("update")) {
                    basic(out, docs.updateStatus(json));
                } else if (op.equals("countEdoc") || op.equals("countStatus")) {
                    CountReceiveEdoc r = op.equals("countEdoc") ? docs.countReceiveEdoc(json)
                            : docs.countReceiveStatus(json);
                    basic(out, r);
                    if (r != null) out.put("count", r.getCount());
                } else if (op.equals("agencies") || op.equals("qd20")) {
                    GetAgenciesResult r = op.equals("agencies") ? dir.getAgenciesList(json)
                            : dir.getAgenciesListQD20(json);
                    basic(out, r);
                    List<Map<String, Object>> items = new ArrayList<>();
                    if (r != null && r.getAgencies() != null) {
                        for (Agency a : r.getAgencies()) {
                            Map<String, Object> m = new LinkedHashMap<>();
                            m.put("code", a.getCode());
                            m.put("name", a.getName());
                            m.put("pid", a.getPid());
                            m.put("code102", a.getCode102());
                            items.add(m);
                        }
                    }
                    out.put("items", items);
                } else if (op.equals("sync")) {
                    GetSynchronizeUnit r = dir.getSynchronizeUnit(json);
                    basic(out, r);
                    out.put("size", r == null || r.getUnitSynchronize() == null ? -1
                            : r.getUnitSynchronize().size());
                } else if (op.equals("register")) {
                    basic(out, dir.registerAgency(json, step[2]));
                } else if (op.equals("delete")) {
                    basic(out, dir.deleteAgency(json));
                } else {
                    throw new IllegalArgumentException("unknown step " + op);
                }
                if (name != null && keep != null) vars.put(name, keep);
                w.write(gson.toJson(out));
                w.write("\n");
                w.flush();
            }
        }
    }
}
