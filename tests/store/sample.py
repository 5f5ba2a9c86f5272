"""A small, synthetic trial for the store's tests: one CSV text per form, in import order.

The participants file has its columns in another order than the template (allowed), and
C01 writes race and education in another case (stored as the form's spelling).
"""

from __future__ import annotations

from pathlib import Path

HN35 = ",".join(f"hn{i}" for i in range(31, 66))
XQ = ",".join(f"xq{i}" for i in range(1, 9))

SAMPLE: dict[str, str] = {
    "sites": """site,name,country
S1,Rigshospitalet,DK
S2,,
""",
    "participants": """subject,site,group,sex,age_years,matched_to,enrolment_order,race,education
P01,S1,patient,F,61,,1,White,high
P02,S1,patient,M,58,,2,White,medium
C01,S1,control,F,60,P01,,white,High
""",
    "screening": """screening_id,subject,screening_date,eligible,failed_criteria
SCR001,P01,2024-01-10,yes,
SCR002,,2024-01-12,no,uws above threshold
SCR003,P02,2024-02-01,yes,
""",
    "visits": """subject,visit,study_day,visit_date
P01,day0,0,2024-01-20
P01,day30,29,2024-02-18
P01,day120,92,2024-04-21
P02,day0,0,2024-02-10
P02,day30,31,
""",
    "sialometry": """subject,visit,kind,cup_before_g,cup_after_g,minutes
P01,day0,UWS,12.0,12.9,10
P01,day0,SWS,12.0,14.5,5
P01,day30,UWS,12.0,13.1,10
P01,day120,UWS,12.1,13.55,10
P02,day0,UWS,11.9,12.4,10
P02,day30,UWS,11.9,12.61,10
""",
    "saliva_ions": """subject,visit,kind,ion,value_mmol_l
P01,day0,UWS,Na,12.5
P01,day0,UWS,K,20.1
P01,day30,UWS,sodium,11.0
""",
    "qlq_hn35": f"""subject,visit,{HN35}
P01,day0,{",".join(["2"] * 30 + ["1"] * 5)}
P01,day30,{",".join(["1"] * 30 + ["1", "2", "1", "1", ""])}
""",
    "xq": f"""subject,visit,{XQ}
P01,day0,5,6,7,8,5,6,7,8
P01,day30,4,4,4,4,,3,3,3
""",
    "adverse_events": """ae_id,subject,term,grade,serious,sae_criteria,related,onset_day
AE1,P01,Pain,1,no,,related,0
AE2,P02,Stroke,3,yes,hospitalisation,not related,82
""",
    "donors": """donor,sex,age_years,hla_a_1,hla_a_2,hla_b_1,hla_b_2,hla_c_1,hla_c_2,hla_drb1_1,hla_drb1_2,hla_dqb1_1,hla_dqb1_2,hla_drb3_1,hla_drb3_2,hla_drb4_1,hla_drb4_2,hla_drb5_1,hla_drb5_2,hla_dqa1_1,hla_dqa1_2,hla_dpa1_1,hla_dpa1_2,hla_dpb1_1,hla_dpb1_2
D1,F,35,A*02:01,A*24:02,B*07:02,B*08:01,C*07:02,C*07:01,DRB1*15:01,DRB1*03:01,DQB1*06:02,DQB1*02:01,DRB3*01:01,,,,DRB5*01:01,,DQA1*01:02,DQA1*05:01,DPA1*01:03,DPA1*01:03,DPB1*04:01,DPB1*02:01
""",  # noqa: E501
    "batches": """batch,donor,viability,cd90,cd105,cd73,cd45,hla_dr,sterility,mycoplasma,endotoxin,donor_serology
B1,D1,92.0,99.1,97.5,99.8,0.4,1.0,negative,negative,negative,negative
""",  # noqa: E501
    "administrations": """subject,gland,batch,study_day,million_cells,volume_ml
P01,left_parotid,B1,0,50,1.0
P01,right_submandibular,B1,0,25,0.5
""",
    "hla_antibodies": """subject,study_day,specificity,mfi
P01,0,A*02:01,300
P01,30,A*02:01,5200
""",
    "scintigraphy": """subject,visit,gland,uptake_score,excretion_fraction_pct
P01,day0,left parotid,3,60.0
P01,day0,right parotid,2,58.5
P01,day120,left parotid,3,
""",
    "safety_labs": """subject,visit,test,value,unit,lower_limit,upper_limit
P01,day0,haemoglobin,13.2,g/dL,12.0,16.0
P01,day30,alt,25,U/L,,40
""",
}


def write_sample(folder: Path) -> dict[str, Path]:
    """Write every form's sample CSV into ``folder``; returns form -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for form, text in SAMPLE.items():
        p = folder / f"{form}.csv"
        p.write_text(text, encoding="utf-8")
        out[form] = p
    return out
