//! A minimal pickle virtual machine: enough of protocols 0–5 to run the programs `torch.save`
//! writes (`data.pkl` inside the zip archive), with no Python and no code execution.
//!
//! Globals are never imported: a `GLOBAL`/`STACK_GLOBAL` becomes a [`Value::Global`] name, and
//! `REDUCE`/`NEWOBJ` on a name this module knows (`collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`, …) is interpreted;
//! on any other name it becomes an inert [`Value::Object`] that records its callable, arguments and
//! state. Storages arrive as persistent ids (`('storage', torch.FloatStorage, key, location,
//! numel)`) and become [`Value::Storage`]; tensors become [`Value::Tensor`] views into them.
//! Mutable containers are shared (`Rc<RefCell<…>>`) so that memo references see later mutation,
//! as in Python.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::Dtype;

/// A typed storage referenced by a persistent id: its bytes live in `data/<key>` of the archive.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StorageRef {
    pub dtype: Dtype,
    pub key: String,
    pub numel: usize,
}

/// A strided view into a storage (`_rebuild_tensor_v2`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorRef {
    pub storage: Rc<StorageRef>,
    pub offset: usize,
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
}

/// An object the VM does not interpret. Its fields are kept for `Debug` output.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub(crate) struct Object {
    pub callable: Value,
    pub args: Value,
    pub state: Option<Value>,
    pub items: Vec<(Value, Value)>,
}

/// A value on the pickle stack. (Payloads the loader never inspects are kept for `Debug`.)
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Rc<Vec<Value>>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Set(Rc<RefCell<Vec<Value>>>),
    Global(Rc<(String, String)>),
    Object(Rc<RefCell<Object>>),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Value {
    fn dict(items: Vec<(Value, Value)>) -> Value {
        Value::Dict(Rc::new(RefCell::new(items)))
    }
    fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(RefCell::new(items)))
    }
    fn object(callable: Value, args: Value) -> Value {
        Value::Object(Rc::new(RefCell::new(Object {
            callable,
            args,
            state: None,
            items: Vec::new(),
        })))
    }

    /// The items of a tuple or list.
    pub fn seq(&self) -> Option<Vec<Value>> {
        match self {
            Value::Tuple(t) => Some(t.as_ref().clone()),
            Value::List(l) => Some(l.borrow().clone()),
            _ => None,
        }
    }

    /// An integer (booleans count as 0/1).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// A string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A short human description (for error messages).
    pub fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) | Value::BigInt(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::List(_) => "list".into(),
            Value::Dict(_) => "dict".into(),
            Value::Set(_) => "set".into(),
            Value::Global(g) => format!("{}.{}", g.0, g.1),
            Value::Object(o) => match &o.borrow().callable {
                Value::Global(g) => format!("{}.{} object", g.0, g.1),
                _ => "object".into(),
            },
            Value::Storage(_) => "storage".into(),
            Value::Tensor(_) => "tensor".into(),
        }
    }
}

/// A VM failure: byte offset and message.
#[derive(Debug)]
pub(crate) struct PickleError {
    pub pos: usize,
    pub msg: String,
}

type PResult<T> = std::result::Result<T, PickleError>;

struct Vm<'a> {
    code: &'a [u8],
    pos: usize,
    op_pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
}

/// Run a pickle program and return the value `STOP` leaves on the stack.
pub(crate) fn load(code: &[u8]) -> PResult<Value> {
    let mut vm =
        Vm { code, pos: 0, op_pos: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new() };
    vm.run()
}

fn global_is(v: &Value, module: &str, name: &str) -> bool {
    matches!(v, Value::Global(g) if g.0 == module && g.1 == name)
}

impl Vm<'_> {
    fn err<T>(&self, msg: impl Into<String>) -> PResult<T> {
        Err(PickleError { pos: self.op_pos, msg: msg.into() })
    }

    fn take(&mut self, n: usize) -> PResult<&[u8]> {
        if self.pos + n > self.code.len() {
            return self.err("unexpected end of pickle data");
        }
        let s = &self.code[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> PResult<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> PResult<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> PResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
    fn i32(&mut self) -> PResult<i32> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> PResult<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn line(&mut self) -> PResult<String> {
        let start = self.pos;
        while self.pos < self.code.len() && self.code[self.pos] != b'\n' {
            self.pos += 1;
        }
        if self.pos >= self.code.len() {
            return self.err("unterminated text argument");
        }
        let s = String::from_utf8_lossy(&self.code[start..self.pos]).into_owned();
        self.pos += 1;
        Ok(s)
    }
    fn string(&mut self, n: usize) -> PResult<String> {
        let b = self.take(n)?.to_vec();
        match String::from_utf8(b) {
            Ok(s) => Ok(s),
            Err(_) => self.err("string is not valid UTF-8"),
        }
    }

    fn pop(&mut self) -> PResult<Value> {
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.err("stack underflow"),
        }
    }
    fn top(&mut self) -> PResult<&mut Value> {
        let pos = self.op_pos;
        self.stack.last_mut().ok_or(PickleError { pos, msg: "stack underflow".into() })
    }
    fn pop_mark(&mut self) -> PResult<Vec<Value>> {
        let Some(m) = self.marks.pop() else {
            return self.err("MARK expected");
        };
        if m > self.stack.len() {
            return self.err("MARK beyond the stack");
        }
        Ok(self.stack.split_off(m))
    }
    fn memo_get(&mut self, idx: u64) -> PResult<()> {
        match self.memo.get(&idx) {
            Some(v) => {
                let v = v.clone();
                self.stack.push(v);
                Ok(())
            }
            None => self.err(format!("memo entry {idx} missing")),
        }
    }
    fn memo_put(&mut self, idx: u64) -> PResult<()> {
        let v = self.top()?.clone();
        self.memo.insert(idx, v);
        Ok(())
    }

    fn set_items(&mut self, target: &Value, items: Vec<(Value, Value)>) -> PResult<()> {
        match target {
            Value::Dict(d) => {
                let mut d = d.borrow_mut();
                for (k, v) in items {
                    // Later keys replace earlier ones, as in Python.
                    if let Some(slot) = d.iter_mut().find(|(ek, _)| keys_equal(ek, &k)) {
                        slot.1 = v;
                    } else {
                        d.push((k, v));
                    }
                }
                Ok(())
            }
            Value::Object(o) => {
                o.borrow_mut().items.extend(items);
                Ok(())
            }
            other => self.err(format!("SETITEM(S) on a {}", other.kind())),
        }
    }

    fn append(&mut self, target: &Value, items: Vec<Value>) -> PResult<()> {
        match target {
            Value::List(l) => {
                l.borrow_mut().extend(items);
                Ok(())
            }
            Value::Object(o) => {
                o.borrow_mut().items.extend(items.into_iter().map(|v| (Value::None, v)));
                Ok(())
            }
            other => self.err(format!("APPEND(S) on a {}", other.kind())),
        }
    }

    fn persistent_load(&self, pid: Value) -> PResult<Value> {
        let Some(items) = pid.seq() else {
            return self.err(format!("persistent id is a {}, not a tuple", pid.kind()));
        };
        if items.first().and_then(|v| v.as_str()) != Some("storage") || items.len() < 5 {
            return self.err("unsupported persistent id (not a torch storage)");
        }
        let dtype = match &items[1] {
            Value::Global(g) => match Dtype::from_torch_storage(&g.1) {
                Some(d) => d,
                None => return self.err(format!("unsupported storage type {}.{}", g.0, g.1)),
            },
            other => return self.err(format!("storage type is a {}", other.kind())),
        };
        let key = match &items[2] {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            other => return self.err(format!("storage key is a {}", other.kind())),
        };
        let numel = match items[4].as_int() {
            Some(n) if n >= 0 => n as usize,
            _ => return self.err("storage size is not a non-negative int"),
        };
        Ok(Value::Storage(Rc::new(StorageRef { dtype, key, numel })))
    }

    fn usize_list(&self, v: &Value, what: &str) -> PResult<Vec<usize>> {
        let Some(items) = v.seq() else {
            return self.err(format!("tensor {what} is a {}", v.kind()));
        };
        items
            .iter()
            .map(|x| match x.as_int() {
                Some(i) if i >= 0 => Ok(i as usize),
                _ => self.err(format!("tensor {what} holds a non-integer or negative value")),
            })
            .collect()
    }

    fn rebuild_tensor(&self, args: &[Value]) -> PResult<Value> {
        if args.len() < 4 {
            return self.err("_rebuild_tensor needs (storage, offset, size, stride)");
        }
        let storage = match &args[0] {
            Value::Storage(s) => s.clone(),
            other => return self.err(format!("tensor storage is a {}", other.kind())),
        };
        let offset = match args[1].as_int() {
            Some(o) if o >= 0 => o as usize,
            _ => return self.err("tensor storage offset is not a non-negative int"),
        };
        let size = self.usize_list(&args[2], "size")?;
        let stride = self.usize_list(&args[3], "stride")?;
        if size.len() != stride.len() {
            return self.err("tensor size and stride differ in length");
        }
        Ok(Value::Tensor(Rc::new(TensorRef { storage, offset, size, stride })))
    }

    /// Apply `callable(*args)` for the callables we understand.
    fn call(&self, callable: Value, args: Value) -> PResult<Value> {
        let g = match &callable {
            Value::Global(g) => g.clone(),
            _ => return Ok(Value::object(callable, args)),
        };
        let argv = args.seq().unwrap_or_default();
        let (module, name) = (g.0.as_str(), g.1.as_str());
        Ok(match (module, name) {
            ("collections", "OrderedDict") | ("builtins" | "__builtin__", "dict") => {
                let mut items = Vec::new();
                if let Some(pairs) = argv.first().and_then(|a| a.seq()) {
                    for p in pairs {
                        if let Some(kv) = p.seq().filter(|kv| kv.len() == 2) {
                            items.push((kv[0].clone(), kv[1].clone()));
                        }
                    }
                }
                Value::dict(items)
            }
            ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => {
                self.rebuild_tensor(&argv)?
            }
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                match argv.into_iter().next() {
                    Some(t) => t,
                    None => return self.err("_rebuild_parameter without data"),
                }
            }
            ("torch._tensor", "_rebuild_from_type_v2") => {
                if argv.len() < 3 {
                    return self.err("_rebuild_from_type_v2 needs (func, type, args, state)");
                }
                self.call(argv[0].clone(), argv[2].clone())?
            }
            ("torch", "Size") | ("builtins" | "__builtin__", "tuple") => {
                Value::Tuple(Rc::new(argv.first().and_then(|a| a.seq()).unwrap_or_default()))
            }
            ("builtins" | "__builtin__", "list") => {
                Value::list(argv.first().and_then(|a| a.seq()).unwrap_or_default())
            }
            ("builtins" | "__builtin__", "set" | "frozenset") => Value::Set(Rc::new(RefCell::new(
                argv.first().and_then(|a| a.seq()).unwrap_or_default(),
            ))),
            ("builtins" | "__builtin__", "bytearray" | "bytes") => match argv.first() {
                Some(Value::Bytes(b)) => Value::Bytes(b.clone()),
                Some(Value::Str(s)) => Value::Bytes(s.chars().map(|c| c as u32 as u8).collect()),
                _ => Value::Bytes(Vec::new()),
            },
            ("_codecs", "encode") => match argv.first() {
                // Protocol 2 writes bytes as _codecs.encode(latin-1 text, 'latin1').
                Some(Value::Str(s)) => Value::Bytes(s.chars().map(|c| c as u32 as u8).collect()),
                _ => Value::object(callable, args),
            },
            _ => Value::object(callable, args),
        })
    }

    fn run(&mut self) -> PResult<Value> {
        loop {
            self.op_pos = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    // PROTO
                    let p = self.u8()?;
                    if p > 5 {
                        return self.err(format!("unsupported pickle protocol {p}"));
                    }
                }
                0x95 => {
                    // FRAME: the length is informational.
                    self.u64()?;
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.stack.push(v);
                }
                // --- constants and numbers
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = self.i32()? as i64;
                    self.stack.push(Value::Int(v));
                }
                b'K' => {
                    let v = self.u8()? as i64;
                    self.stack.push(Value::Int(v));
                }
                b'M' => {
                    let v = self.u16()? as i64;
                    self.stack.push(Value::Int(v));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a { self.u8()? as usize } else { self.u32()? as usize };
                    let bytes = self.take(n)?.to_vec();
                    self.stack.push(long_from_bytes(bytes));
                }
                b'I' => {
                    let l = self.line()?;
                    let v = match l.as_str() {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        s => match s.parse::<i64>() {
                            Ok(i) => Value::Int(i),
                            Err(_) => return self.err(format!("bad INT {s:?}")),
                        },
                    };
                    self.stack.push(v);
                }
                b'L' => {
                    let l = self.line()?;
                    match l.trim_end_matches('L').parse::<i64>() {
                        Ok(i) => self.stack.push(Value::Int(i)),
                        Err(_) => return self.err(format!("bad LONG {l:?}")),
                    }
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes(b.try_into().expect("8 bytes"));
                    self.stack.push(Value::Float(v));
                }
                b'F' => {
                    let l = self.line()?;
                    match l.parse::<f64>() {
                        Ok(v) => self.stack.push(Value::Float(v)),
                        Err(_) => return self.err(format!("bad FLOAT {l:?}")),
                    }
                }
                // --- strings and bytes
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.string(n)?;
                    self.stack.push(Value::Str(s));
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.string(n)?;
                    self.stack.push(Value::Str(s));
                }
                0x8d => {
                    let n = self.u64()? as usize;
                    let s = self.string(n)?;
                    self.stack.push(Value::Str(s));
                }
                b'V' => {
                    let l = self.line()?;
                    self.stack.push(Value::Str(l));
                }
                b'S' => {
                    let l = self.line()?;
                    let t = l.trim();
                    let s = t
                        .strip_prefix('\'')
                        .and_then(|t| t.strip_suffix('\''))
                        .or_else(|| t.strip_prefix('"').and_then(|t| t.strip_suffix('"')))
                        .unwrap_or(t);
                    self.stack.push(Value::Str(s.to_string()));
                }
                b'T' | b'U' => {
                    // BINSTRING / SHORT_BINSTRING: Python 2 str, decoded as latin-1 text.
                    let n = if op == b'T' { self.u32()? as usize } else { self.u8()? as usize };
                    let b = self.take(n)?;
                    let s: String = b.iter().map(|&c| c as char).collect();
                    self.stack.push(Value::Str(s));
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => self.u32()? as usize,
                        b'C' => self.u8()? as usize,
                        _ => self.u64()? as usize,
                    };
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(b));
                }
                0x97 | 0x98 => {
                    return self.err("out-of-band buffers (protocol 5) are not supported");
                }
                // --- containers
                b')' => self.stack.push(Value::Tuple(Rc::new(Vec::new()))),
                0x85 => {
                    let a = self.pop()?;
                    self.stack.push(Value::Tuple(Rc::new(vec![a])));
                }
                0x86 => {
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.stack.push(Value::Tuple(Rc::new(vec![a, b])));
                }
                0x87 => {
                    let c = self.pop()?;
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.stack.push(Value::Tuple(Rc::new(vec![a, b, c])));
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(Rc::new(items)));
                }
                b']' => self.stack.push(Value::list(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::list(items));
                }
                b'}' => self.stack.push(Value::dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return self.err("DICT with an odd number of items");
                    }
                    let d = Value::dict(Vec::new());
                    let pairs = pairs(items);
                    self.set_items(&d, pairs)?;
                    self.stack.push(d);
                }
                0x8f => self.stack.push(Value::Set(Rc::new(RefCell::new(Vec::new())))),
                0x90 => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Value::Set(s) => s.borrow_mut().extend(items),
                        other => {
                            let k = other.kind();
                            return self.err(format!("ADDITEMS on a {k}"));
                        }
                    }
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Set(Rc::new(RefCell::new(items))));
                }
                b'a' => {
                    let v = self.pop()?;
                    let target = self.top()?.clone();
                    self.append(&target, vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    self.append(&target, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top()?.clone();
                    self.set_items(&target, vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return self.err("SETITEMS with an odd number of items");
                    }
                    let target = self.top()?.clone();
                    self.set_items(&target, pairs(items))?;
                }
                // --- memo
                b'q' => {
                    let i = self.u8()? as u64;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.u32()? as u64;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = self.memo.len() as u64;
                    self.memo_put(i)?;
                }
                b'p' => {
                    let l = self.line()?;
                    match l.parse::<u64>() {
                        Ok(i) => self.memo_put(i)?,
                        Err(_) => return self.err(format!("bad PUT {l:?}")),
                    }
                }
                b'h' => {
                    let i = self.u8()? as u64;
                    self.memo_get(i)?;
                }
                b'j' => {
                    let i = self.u32()? as u64;
                    self.memo_get(i)?;
                }
                b'g' => {
                    let l = self.line()?;
                    match l.parse::<u64>() {
                        Ok(i) => self.memo_get(i)?,
                        Err(_) => return self.err(format!("bad GET {l:?}")),
                    }
                }
                // --- objects
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(Rc::new((module, name))));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => {
                            self.stack.push(Value::Global(Rc::new((m, n))))
                        }
                        _ => return self.err("STACK_GLOBAL needs two strings"),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.call(callable, args)?;
                    self.stack.push(v);
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let v = if global_is(&cls, "collections", "OrderedDict") {
                        Value::dict(Vec::new())
                    } else {
                        Value::object(cls, args)
                    };
                    self.stack.push(v);
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let v = if global_is(&cls, "collections", "OrderedDict") {
                        Value::dict(Vec::new())
                    } else {
                        Value::object(cls, args)
                    };
                    self.stack.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    // OrderedDict attributes (`_metadata`) and tensor state are not needed.
                    if let Value::Object(o) = self.top()? {
                        o.borrow_mut().state = Some(state);
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(pid)?;
                    self.stack.push(v);
                }
                b'P' => return self.err("text persistent ids (protocol 0) are not supported"),
                b'i' | b'o' => {
                    return self.err("INST/OBJ (protocol 0/1 instances) are not supported");
                }
                0x82..=0x84 => return self.err("extension registry codes are not supported"),
                other => return self.err(format!("unknown opcode 0x{other:02x}")),
            }
        }
    }
}

fn pairs(items: Vec<Value>) -> Vec<(Value, Value)> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

fn keys_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}

/// Decode a two's-complement little-endian LONG1/LONG4 payload.
fn long_from_bytes(bytes: Vec<u8>) -> Value {
    if bytes.is_empty() {
        return Value::Int(0);
    }
    if bytes.len() > 8 {
        return Value::BigInt(bytes);
    }
    let neg = bytes[bytes.len() - 1] & 0x80 != 0;
    let mut buf = if neg { [0xffu8; 8] } else { [0u8; 8] };
    buf[..bytes.len()].copy_from_slice(&bytes);
    Value::Int(i64::from_le_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_a_protocol_2_program_with_memo_and_shared_dict() {
        // pickle.dumps({'a': [1, -2, 3.5], 'b': (True, None), 'big': 2**40, 'neg': -300}, 2)
        // hand-assembled, plus a memo reference to the list.
        let mut p = vec![0x80, 2, b'}', b'q', 0, b'('];
        p.extend([b'X', 1, 0, 0, 0, b'a', b']', b'q', 1, b'(', b'K', 1, b'J']);
        p.extend((-2i32).to_le_bytes());
        p.push(b'G');
        p.extend(3.5f64.to_be_bytes());
        p.extend([b'e', b'X', 1, 0, 0, 0, b'b', 0x88, b'N', 0x86]);
        p.extend([b'X', 3, 0, 0, 0, b'b', b'i', b'g', 0x8a, 6, 0, 0, 0, 0, 0, 1]);
        p.extend([b'X', 3, 0, 0, 0, b'n', b'e', b'g', 0x8a, 2, 0xd4, 0xfe]);
        p.extend([b'X', 4, 0, 0, 0, b'l', b'i', b's', b't', b'h', 1]);
        p.extend([b'u', b'.']);
        let v = load(&p).unwrap();
        let Value::Dict(d) = v else { panic!("not a dict") };
        let d = d.borrow();
        assert_eq!(d.len(), 5);
        let a = d[0].1.seq().unwrap();
        assert_eq!(a[0].as_int(), Some(1));
        assert_eq!(a[1].as_int(), Some(-2));
        assert!(matches!(a[2], Value::Float(f) if f == 3.5));
        assert!(matches!(d[1].1.seq().unwrap()[0], Value::Bool(true)));
        assert_eq!(d[2].1.as_int(), Some(1 << 40));
        assert_eq!(d[3].1.as_int(), Some(-300));
        // The memo reference shares the list filled after it was memoised.
        assert_eq!(d[4].1.seq().unwrap().len(), 3);
    }

    #[test]
    fn errors_carry_the_position() {
        let e = load(&[0x80, 2, b'K']).unwrap_err();
        assert_eq!(e.pos, 2);
        assert!(e.msg.contains("end of pickle"), "{}", e.msg);
        let e = load(&[0x80, 2, 0xff]).unwrap_err();
        assert!(e.msg.contains("unknown opcode 0xff"), "{}", e.msg);
    }
}
