"""The mitmproxy side of the COS doctor: small addons, one feature each, over the sans-I/O `cosdoctor` core.

    doctor.py       CosDoctor: recognises COS flows (once per flow), diagnoses and annotates them, and
                    drives the features below; the only addon with flow hooks
    block.py        CosBlock: cos_validate; answers locally, as COS would, what COS would reject
    report.py       CosReport: cos_report, the JSON Lines audit log
    audit.py        CosAudit: cos_fail_on, the exit status of an offline audit
    commands.py     CosCommands: cos.diagnose and cos.report
    contentview.py  CosContentView: the "COS POST Object" content view (mitmproxy 11 and 12)
    adapter.py      a flow as plain values for the core (the one header reader's user)
    kept.py         the analysis behind each diagnosis, kept for the content view while its flow lives
    failopen.py     internal errors: caught per hook, logged once a minute, counted
    options.py      option declaration and start-up errors as one line

Everything here may import mitmproxy; nothing in `cosdoctor` does.
"""
