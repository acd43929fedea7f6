#!/usr/bin/env python3
"""slice_cnn_torch.py RUN_DIR [options] — a PyTorch copy of the reduced slice CNN
(configs/models/slice_cnn_small.yaml: conv 8-16-32-64, global max pooling, dense 64, dropout 0.3,
Adam with L2 and the per-epoch decay, flip training) trained on the hust19 split of RUN_DIR/slice_cnn.h5
(parts 0 train, 1 validation; --ntrain N > the training part adds the slices cut by
max_train_slices) and scored each epoch on slices of the patients that are not labelled at all
(RUN_DIR/synth/.synth/done ground truth; --evalsub of them, 0 = all). For prototyping input
encodings (--norm u8 | lung | lungclip | clip), resolution (--res 100 | 200), widths (--ch) and
init (--init torch | he) before changing hust19 (docs/training.md, "pCT on unseen patients").
RUN_DIR needs archive.h5, slice_cnn.h5 and synth/ (links to a demo run are enough). One thread.
"""
import sys
import csv, os, h5py, numpy as np
def load(D):
    man = {int(r["patient_id"]): r for r in csv.DictReader(open(f"{D}/synth/manifest.csv"))}
    with h5py.File(f"{D}/archive.h5","r") as f:
        pat_row=f["/ct/patient"][:]; inst=f["/ct/instance"][:]; label=f["/ct/label"][:]
        ids=np.array([int(x) for x in f["/patients/id"][:]])
    prob=None
    if os.path.exists(f"{D}/slice_scores.h5"):
        with h5py.File(f"{D}/slice_scores.h5","r") as s: prob=s["/prob"][:]
    with h5py.File(f"{D}/slice_cnn.h5","r") as m: lab_idx, part = m["/split/slice"][:], m["/split/part"][:]
    pid=ids[pat_row]
    names={"NiCT":0,"pCT":1,"nCT":2}
    N=len(inst)
    truth=np.full(N,-1); lung=np.zeros(N); les=np.zeros(N); cls=np.empty(N,dtype=object); lab=np.zeros(N,bool)
    for p in np.unique(pid):
        rows=list(csv.DictReader(open(f"{D}/synth/.synth/done/P{p:04d}.csv")))
        for i in np.nonzero(pid==p)[0]:
            r=rows[inst[i]-1]; truth[i]=names.get(r["label"],-1); lung[i]=float(r["lung_mm2"]); les[i]=float(r["lesion_mm2"])
            cls[i]=man[p]["class"]; lab[i]=man[p]["labelled"]=="1"
    return dict(man=man,pid=pid,inst=inst,label=label,prob=prob,truth=truth,lung=lung,les=les,cls=cls,labelled=lab,lab_idx=lab_idx,part=part)
import argparse, time, numpy as np, torch, torch.nn as nn, h5py
from sklearn.metrics import roc_auc_score
torch.set_num_threads(1)
ap=argparse.ArgumentParser()
ap.add_argument("run")
ap.add_argument('--res',type=int,default=100)
ap.add_argument('--ch',default='8,16,32,64')
ap.add_argument('--ntrain',type=int,default=800)
ap.add_argument('--epochs',type=int,default=20)
ap.add_argument('--lr',type=float,default=1e-3)
ap.add_argument('--l2',type=float,default=1e-3)
ap.add_argument('--norm',default='u8')   # u8: /255 ; lung: (x-85)/40 inside, 0 outside
ap.add_argument('--pool',default='max')
ap.add_argument('--seed',type=int,default=0)
ap.add_argument('--dense',type=int,default=64)
ap.add_argument('--evalsub',type=int,default=4000)
ap.add_argument('--save',default='')
ap.add_argument('--init',default='torch')
a=ap.parse_args()
torch.manual_seed(a.seed); rng=np.random.default_rng(a.seed)
D=a.run
d=load(D)
f=h5py.File(f"{D}/archive.h5","r")
lab_idx,part=d['lab_idx'],d['part']
tr=lab_idx[part==0]; va=lab_idx[part==1]; cut=lab_idx[part==-1]
if a.ntrain>len(tr): tr=np.sort(np.concatenate([tr,cut]))[:a.ntrain] if a.ntrain<len(tr)+len(cut) else np.sort(np.concatenate([tr,cut]))
u=(~d['labelled'])&(d['truth']>=0)
te=np.nonzero(u)[0]
if a.evalsub and a.evalsub<len(te): te=np.sort(rng.choice(te,a.evalsub,replace=False))
def get(idx):
    x=f["/ct/slices"][np.sort(idx)].astype(np.float32)
    if a.res==100: x=x.reshape(-1,100,2,100,2).mean((2,4))
    if a.norm=='u8': x=x/255.
    elif a.norm=='lung': x=np.where(x>0,(x-85.)/40.,0.)
    elif a.norm=='lungclip': x=np.where(x>0,np.clip((x-85.)/40.,-1.5,2.5),0.)
    elif a.norm=='clip': x=np.minimum(x,165.)/255.
    return torch.tensor(x[:,None],dtype=torch.float32)
Xtr,ytr=get(tr),torch.tensor(d['label'][np.sort(tr)].astype(np.int64))
Xva,yva=get(va),d['label'][np.sort(va)]
Xte,yte=get(te),d['truth'][te]
print('train',len(tr),np.bincount(ytr.numpy()),'val',len(va),'test',len(te),flush=True)
ch=[int(c) for c in a.ch.split(',')]
L=[];cin=1
for j,c in enumerate(ch):
    L+=[nn.Conv2d(cin,c,3,padding=1),nn.ReLU()]
    if j<len(ch)-1: L.append(nn.MaxPool2d(2))
    cin=c
L+=[nn.AdaptiveMaxPool2d(1) if a.pool=='max' else nn.AdaptiveAvgPool2d(1),nn.Flatten(),nn.Linear(cin,a.dense),nn.ReLU(),nn.Dropout(0.3),nn.Linear(a.dense,3)]
net=nn.Sequential(*L)
if a.init=='he':
    mods=[m for m in net if isinstance(m,(nn.Conv2d,nn.Linear))]
    for j,m in enumerate(mods):
        if j<len(mods)-1: nn.init.kaiming_normal_(m.weight,nonlinearity='relu')
        else: nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)
print('params',sum(p.numel() for p in net.parameters()))
opt=torch.optim.Adam(net.parameters(),lr=a.lr,weight_decay=a.l2)
def pred(X):
    net.eval(); out=[]
    with torch.no_grad():
        for i in range(0,len(X),256): out.append(torch.softmax(net(X[i:i+256]),1))
    net.train(); return torch.cat(out).numpy()
def auc(y,p,k): return roc_auc_score(y==k,p[:,k])
t0=time.process_time(); best=(-1,None,0)
for ep in range(a.epochs):
    for g in opt.param_groups: g['lr']=a.lr/(1+0.02*ep)
    Xa=torch.cat([Xtr,Xtr.flip(3)]); ya=torch.cat([ytr,ytr])
    perm=torch.randperm(len(Xa)); tl=0
    for i in range(0,len(Xa),16):
        b=perm[i:i+16]; opt.zero_grad(); l=nn.functional.cross_entropy(net(Xa[b]),ya[b]); l.backward(); opt.step(); tl+=l.item()*len(b)
    pv=pred(Xva); vacc=(pv.argmax(1)==yva).mean(); vauc=auc(yva,pv,1)
    pt=pred(Xte)
    print(f"ep {ep} loss {tl/len(Xa):.3f} val acc {vacc:.3f} val pCT {vauc:.3f} | unseen NiCT {auc(yte,pt,0):.4f} pCT {auc(yte,pt,1):.4f} nCT {auc(yte,pt,2):.4f} cpu {time.process_time()-t0:.0f}s",flush=True)
    if vacc>best[0]: best=(vacc,ep,auc(yte,pt,1))
print('best-val epoch',best[1],'unseen pCT at it',round(best[2],4))
if a.save:
    torch.save(net.state_dict(),a.save+'.pt'); np.savez(a.save+'.npz',te=te,pt=pt)
