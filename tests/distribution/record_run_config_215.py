"""Records tf.estimator 2.15 RunConfig cluster fields per TF_CONFIG role (run under /work/tf215 only;
its output is inlined in tests/test_cluster_units.py)."""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import tensorflow as tf
cluster={"chief":["127.0.0.1:1"],"worker":["127.0.0.1:2","127.0.0.1:3"],"ps":["127.0.0.1:4"],"evaluator":["127.0.0.1:5"]}
out={}
for t,i in [("chief",0),("worker",1),("ps",0),("evaluator",0)]:
    os.environ["TF_CONFIG"]=json.dumps({"cluster":cluster,"task":{"type":t,"index":i}})
    c=tf.estimator.RunConfig()
    out[t]={k:str(getattr(c,k)) for k in ("task_type","task_id","is_chief","num_worker_replicas","num_ps_replicas","global_id_in_cluster","master","evaluation_master","cluster_spec")}


print(json.dumps(out,indent=0))
