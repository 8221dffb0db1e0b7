        # readline hands the word over without the quote it was opened with: that quote is
        # read from the line, the word's backslashes undone
        local _nrec_w="$2" _nrec_u= _nrec_i
        case ${COMP_WORDS[COMP_CWORD]} in
            \'*) _nrec_q=\' ;;
            \"*) _nrec_q=\" ;;
        esac
        _nrec_w=${_nrec_w#[\'\"]}
        if [[ $_nrec_q == \' ]]; then
            _nrec_u=${_nrec_w%\'}
        else
            _nrec_w=${_nrec_w%\"}
            for ((_nrec_i = 0; _nrec_i < ${#_nrec_w}; _nrec_i++)); do
                [[ ${_nrec_w:_nrec_i:1} == \\ ]] && ((_nrec_i++))
                _nrec_u+=${_nrec_w:_nrec_i:1}
            done
        fi
        words[COMP_CWORD]="$_nrec_u"
